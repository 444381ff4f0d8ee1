import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { mappingJsonSchema } from '../../mapping/spec.js';
import { mappingTestJsonSchema } from '../../mapping/testing/spec.js';

export function schemaCommand(): Command {
  return new Command('schema')
    .description(
      'print the JSON Schema of mapping files (or of test files), for editors (yaml-language-server)',
    )
    .option('--test-file', 'the schema of mapping test files (*.test.yaml) instead')
    .option('-o, --out <file>', 'write it to a file instead of stdout')
    .action(async (options: { out?: string; testFile?: boolean }) => {
      const schema = options.testFile ? mappingTestJsonSchema() : mappingJsonSchema();
      const text = `${JSON.stringify(schema, null, 2)}\n`;
      if (options.out) await writeFile(options.out, text);
      else process.stdout.write(text);
    });
}
