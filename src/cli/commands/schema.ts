import { writeFile } from 'node:fs/promises';
import { Command } from 'commander';
import { mappingJsonSchema } from '../../mapping/spec.js';

export function schemaCommand(): Command {
  return new Command('schema')
    .description('print the JSON Schema of mapping files, for editors (yaml-language-server)')
    .option('-o, --out <file>', 'write it to a file instead of stdout')
    .action(async (options: { out?: string }) => {
      const text = `${JSON.stringify(mappingJsonSchema(), null, 2)}\n`;
      if (options.out) await writeFile(options.out, text);
      else process.stdout.write(text);
    });
}
