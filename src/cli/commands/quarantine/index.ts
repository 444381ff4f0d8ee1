import { Command } from 'commander';
import { listCommand } from './list.js';
import { replayCommand } from './replay.js';
import { resolveCommand } from './resolve.js';
import { showCommand } from './show.js';
import { statsCommand } from './stats.js';

export function quarantineCommand(): Command {
  return new Command('quarantine')
    .description('inspect, replay and resolve quarantined records (configured like `membrane run`)')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(statsCommand())
    .addCommand(replayCommand())
    .addCommand(resolveCommand());
}
