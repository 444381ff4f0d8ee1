import { Command } from 'commander';
import { listCommand } from './list.js';
import { replayCommand } from './replay.js';
import { resolveCommand } from './resolve.js';
import { showCommand } from './show.js';
import { statsCommand } from './stats.js';
import { unpackCommand } from './unpack.js';
import { unresolveCommand } from './unresolve.js';

export function quarantineCommand(): Command {
  return new Command('quarantine')
    .description(
      'inspect, replay, resolve, unresolve and unpack quarantined records (configured like `membrane run`)',
    )
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(statsCommand())
    .addCommand(replayCommand())
    .addCommand(resolveCommand())
    .addCommand(unresolveCommand())
    .addCommand(unpackCommand());
}
