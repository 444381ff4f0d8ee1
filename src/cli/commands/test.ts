import { Command } from 'commander';
import { isMembraneError } from '../../core/errors.js';
import { formatProblem, MappingError } from '../../mapping/load.js';
import { findFiles, isMappingTestFile } from '../../mapping/files.js';
import { runTestFile } from '../../mapping/test-runner.js';

export function testCommand(): Command {
  return new Command('test')
    .description(
      'run mapping test files (*.test.yaml): inputs and the outputs, quarantines or drops they must give',
    )
    .argument('[paths...]', 'test files or folders', ['mappings'])
    .action(async (paths: string[]) => {
      const files = await findFiles(paths, isMappingTestFile);
      const out = process.stdout;
      const colour = out.isTTY;
      const green = (s: string): string => (colour ? `\u001b[32m${s}\u001b[39m` : s);
      const red = (s: string): string => (colour ? `\u001b[31m${s}\u001b[39m` : s);
      let passed = 0;
      let failed = 0;
      for (const file of files) {
        try {
          const result = await runTestFile(file);
          out.write(`${file} (${result.mapping})\n`);
          for (const c of result.cases) {
            if (c.passed) passed += 1;
            else failed += 1;
            out.write(`  ${c.passed ? green('✓') : red('✗')} ${c.name}\n`);
            for (const line of c.differences) out.write(`      ${line}\n`);
          }
        } catch (error) {
          if (!(error instanceof MappingError) && !isMembraneError(error)) throw error;
          failed += 1;
          out.write(`${file}\n  ${red('✗')} cannot run:\n`);
          const lines =
            error instanceof MappingError ? error.problems.map(formatProblem) : [error.message];
          for (const line of lines) out.write(`      ${line}\n`);
        }
      }
      out.write(`${passed} passed, ${failed} failed\n`);
      process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
    });
}
