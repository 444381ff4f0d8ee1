import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { MembraneError, messageOf } from '../../core/errors.js';
import { findFiles, isMappingTestFile } from '../../mapping/files.js';
import { runTestFiles } from '../../mapping/test-runner.js';
import {
  humanReport,
  report,
  REPORTERS,
  succeeded,
  totals,
  type Reporter,
} from '../../mapping/testing/reporters.js';
import { escapeText } from '../text.js';
import { oneOf } from './quarantine/options.js';

/**
 * `membrane test [paths...]`: runs mapping test files (*.test.yaml) and reports each case —
 * for people (default) or, with --reporter junit|json, for CI; --output writes that report to
 * a file and leaves the human one on stdout.
 */

function refuse(sentence: string, hint: string): never {
  throw new MembraneError('cli.invalid-option', sentence, { hint });
}

function parseReporter(text: string): Reporter {
  if ((REPORTERS as readonly string[]).includes(text)) return text as Reporter;
  return refuse(
    `--reporter must be one of ${oneOf(REPORTERS)}, not "${escapeText(text)}".`,
    'give one of them, like --reporter junit',
  );
}

async function testFilesUnder(paths: readonly string[]): Promise<string[]> {
  try {
    return await findFiles(paths, isMappingTestFile);
  } catch (error) {
    throw new MembraneError('test.not-found', `${escapeText(messageOf(error))}.`, {
      cause: error,
      hint: 'give test files (*.test.yaml) or folders that exist',
    });
  }
}

export function testCommand(): Command {
  return new Command('test')
    .description(
      'run mapping test files (*.test.yaml): inputs and the outputs, quarantines or drops they must give',
    )
    .argument('[paths...]', 'test files or folders', ['mappings'])
    .addOption(
      new Option('--reporter <name>', 'the report: human, junit (XML) or json')
        .choices(REPORTERS)
        // After .choices(): the help still lists them, the refusal is membrane's sentence.
        .argParser(parseReporter)
        .default('human'),
    )
    .option(
      '-o, --output <file>',
      'write the report to this file (stdout still shows the human report)',
    )
    .action(async (paths: string[], options: { reporter: Reporter; output?: string }) => {
      const files = await testFilesUnder(paths);
      const reports = await runTestFiles(files);
      const out = process.stdout;
      if (options.output !== undefined) {
        const text = report(options.reporter, reports, { colour: false, escape: (s) => s });
        try {
          await writeFile(options.output, text);
        } catch (error) {
          throw new MembraneError(
            'test.unwritable',
            `Cannot write the report to ${escapeText(options.output)}: ${escapeText(messageOf(error))}.`,
            { cause: error, hint: 'give --output a file in a folder that exists and is writable' },
          );
        }
        out.write(humanReport(reports, { colour: out.isTTY, escape: escapeText }));
      } else {
        out.write(report(options.reporter, reports, { colour: out.isTTY, escape: escapeText }));
      }
      process.exitCode = succeeded(totals(reports)) ? 0 : 1;
    });
}
