import { Command } from 'commander';
import { isMembraneError, MembraneError, messageOf } from '../../core/errors.js';
import { compileMapping } from '../../mapping/compile.js';
import { formatProblem, loadMappingFile, MappingError } from '../../mapping/load.js';
import { findFiles, isMappingFile } from '../../mapping/files.js';
import { InMemorySchemaRegistry } from '../../pipeline/ports.js';
import { escapeText } from '../text.js';

/** The mapping files under `paths`; a path that does not exist is one sentence, exit 1. */
async function mappingFilesUnder(paths: readonly string[]): Promise<string[]> {
  try {
    return await findFiles(paths, isMappingFile);
  } catch (error) {
    throw new MembraneError('mapping.not-found', `${escapeText(messageOf(error))}.`, {
      cause: error,
      hint: 'give mapping files (*.yaml) or folders that exist',
    });
  }
}

export function validateCommand(): Command {
  return new Command('validate')
    .description(
      'check mapping files without running them: syntax, keys, expressions type-checked against the record, date formats, zones, schemas, env vars; every problem at once',
    )
    .argument('[paths...]', 'mapping files or folders', ['mappings'])
    .option('--env-file <file>', 'load environment variables (for ${env:…}) from this file first')
    .action(async (paths: string[], options: { envFile?: string }) => {
      if (options.envFile) process.loadEnvFile(options.envFile);
      const files = await mappingFilesUnder(paths);
      let failed = 0;
      for (const file of files) {
        try {
          const pipeline = await compileMapping(await loadMappingFile(file), {
            registry: new InMemorySchemaRegistry(),
          });
          process.stdout.write(
            `ok    ${file} (${pipeline.ref}: ${pipeline.topics.join(', ')} → ${pipeline.outputTopics().join(', ')})\n`,
          );
        } catch (error) {
          if (!(error instanceof MappingError) && !isMembraneError(error)) throw error;
          failed += 1;
          process.stdout.write(`FAIL  ${file}\n`);
          const lines =
            error instanceof MappingError ? error.problems.map(formatProblem) : [error.message];
          for (const line of lines) process.stdout.write(`  ${line}\n`);
        }
      }
      process.stdout.write(`${files.length - failed} valid, ${failed} invalid\n`);
      process.exitCode = failed > 0 || files.length === 0 ? 1 : 0;
    });
}
