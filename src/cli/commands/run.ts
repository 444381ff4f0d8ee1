import { once } from 'node:events';
import { Command } from 'commander';
import { loadRunConfig } from '../../app/config.js';
import { createLogger } from '../../app/logger.js';
import { Runtime } from '../../app/runtime/bootstrap.js';
import { MembraneError } from '../../core/errors.js';
import { reportError } from '../errors.js';

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
      // kafkajs's fetch loop keeps the process alive until we stop it, or a fatal fault
      // (authorization, a deleted output topic, a consumer that cannot recover) stops it.
      const ended = await Promise.race([
        once(process, 'SIGTERM'),
        once(process, 'SIGINT'),
        runtime.failed,
      ]);
      if (ended instanceof MembraneError) {
        await runtime.stop();
        const code = reportError(ended);
        // A bug keeps the exit code of the unexpected (70); a fault of the cluster is 1.
        process.exit(ended.code === 'runtime.bug' ? 70 : code);
      }
      logger.info({ signal: ended }, 'stopping');
      // Once stopped, nothing is left to do; but with the broker unreachable kafkajs keeps
      // reconnecting in the background, which would keep the process alive for ever. Exit,
      // with 1 when the shutdown timed out (the group was not left cleanly).
      const clean = await runtime.stop();
      process.exit(clean ? 0 : 1);
    });
}
