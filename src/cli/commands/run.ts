import { once } from 'node:events';
import { Command } from 'commander';
import { loadRunConfig } from '../../app/config.js';
import {
  createLogger,
  exitAfterFlush,
  exitOnSignal,
  flushLogger,
  flushOnCrash,
  quarantineLogRate,
  type Logger,
} from '../../app/logger.js';
import { Runtime } from '../../app/runtime/bootstrap.js';
import { MembraneError } from '../../core/errors.js';
import { reportError } from '../errors.js';

const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * A second SIGTERM or SIGINT while stopping ends the process at once, as the signal's default
 * would, with the log written out first: for a second at most when nobody reads stderr.
 */
function exitOnSecondSignal(logger: Logger): void {
  exitOnSignal(logger, SIGNALS, 'second signal: exiting before the shutdown finished');
}

export function runCommand(): Command {
  return new Command('run')
    .description(
      'run membrane: join the consumer group and translate until SIGTERM or SIGINT (configured by environment variables)',
    )
    .action(async () => {
      const config = loadRunConfig();
      const logger = createLogger(config.LOG_LEVEL, {
        quarantinedPerSecond: quarantineLogRate(),
      });
      // Logs are written asynchronously: every way out below writes them out first.
      flushOnCrash(logger);
      const runtime = new Runtime({ config, logger });
      try {
        await runtime.start();
      } catch (error) {
        // What was logged, then why membrane cannot start; and exit: kafkajs's connections
        // would keep the process alive.
        await flushLogger(logger);
        return exitAfterFlush(logger, reportError(error));
      }
      // kafkajs's fetch loop keeps the process alive until we stop it, or a fatal fault
      // (authorization, a deleted output topic, a consumer that cannot recover) stops it.
      const waiting = new AbortController();
      const ended = await Promise.race([
        // The signal's name, for the log (once() gives the listener's arguments).
        ...SIGNALS.map((signal) =>
          once(process, signal, { signal: waiting.signal }).then(() => signal),
        ),
        runtime.failed,
      ]);
      waiting.abort();
      exitOnSecondSignal(logger);
      if (ended instanceof MembraneError) {
        await runtime.stop();
        // The log first, then the sentence saying why membrane stops: in that order.
        await flushLogger(logger);
        const code = reportError(ended);
        // A bug (runtime.bug, kafka.bug) exits 70; a fault of the cluster its own code.
        return exitAfterFlush(logger, code);
      }
      logger.info({ signal: ended }, 'stopping');
      // Once stopped, nothing is left to do; but with the broker unreachable kafkajs keeps
      // reconnecting in the background, which would keep the process alive for ever. Exit,
      // with 1 when the shutdown timed out (the group was not left cleanly).
      const clean = await runtime.stop();
      return exitAfterFlush(logger, clean ? 0 : 1);
    });
}
