import { once } from 'node:events';
import { Command } from 'commander';
import { loadRunConfig } from '../../app/config.js';
import { createLogger } from '../../app/logger.js';
import { Runtime } from '../../app/runtime.js';

export function runCommand(): Command {
  return new Command('run')
    .description(
      'run membrane: join the consumer group and translate until SIGTERM or SIGINT (configured by environment variables)',
    )
    .action(async () => {
      const config = loadRunConfig();
      const logger = createLogger(config.LOG_LEVEL);
      const runtime = new Runtime({ config, logger });
      await runtime.start();
      // kafkajs's fetch loop keeps the process alive until we stop it.
      const signal = await Promise.race([once(process, 'SIGTERM'), once(process, 'SIGINT')]);
      logger.info({ signal }, 'stopping');
      await runtime.stop();
    });
}
