/** The `membrane` command line: one command per file in commands/. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { projectRoot } from '../infra/paths.js';
import { devCommand } from './commands/dev.js';
import { doctorCommand } from './commands/doctor.js';
import { infraCommand } from './commands/infra.js';
import { quarantineCommand } from './commands/quarantine/index.js';
import { runCommand } from './commands/run.js';
import { schemaCommand } from './commands/schema.js';
import { statusCommand } from './commands/status.js';
import { testCommand } from './commands/test.js';
import { tryCommand } from './commands/try.js';
import { validateCommand } from './commands/validate.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

export function program(): Command {
  return new Command('membrane')
    .description(
      'A Kafka anti-corruption layer: trust, translate, validate, stamp — or quarantine.',
    )
    .version(version())
    .addCommand(devCommand())
    .addCommand(doctorCommand())
    .addCommand(infraCommand())
    .addCommand(quarantineCommand())
    .addCommand(runCommand())
    .addCommand(schemaCommand())
    .addCommand(statusCommand())
    .addCommand(testCommand())
    .addCommand(tryCommand())
    .addCommand(validateCommand());
}
