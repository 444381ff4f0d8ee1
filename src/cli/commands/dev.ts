import { once } from 'node:events';
import { Command } from 'commander';
import { describeCluster } from '../../adapters/kafka/client.js';
import { pingRegistry } from '../../adapters/registry/client.js';
import { messageOf } from '../../core/errors.js';
import { acquireInfrastructure, type Infrastructure } from '../../infra/select.js';
import { createProgress } from '../../infra/progress.js';

const WATCH_MS = 10_000;

/** Says once when Kafka or the registry stops answering, and once when it is back. */
function watch(infra: Infrastructure, out: NodeJS.WriteStream): NodeJS.Timeout {
  let down = new Set<string>();
  return setInterval(() => {
    void Promise.allSettled([
      describeCluster(infra.brokers, 3000),
      pingRegistry(infra.registryUrl, 3000),
    ]).then(([kafka, registry]) => {
      const now = new Set<string>();
      if (kafka.status === 'rejected') now.add(`Kafka does not answer: ${messageOf(kafka.reason)}`);
      if (registry.status === 'rejected')
        now.add(`the registry does not answer: ${messageOf(registry.reason)}`);
      for (const problem of now) if (!down.has(problem)) out.write(`! ${problem}\n`);
      if (down.size > 0 && now.size === 0) out.write('Kafka and the registry answer again.\n');
      down = now;
    });
  }, WATCH_MS);
}

export function devCommand(): Command {
  return new Command('dev')
    .description('bring up Kafka and the registry for local work and keep them until Ctrl-C')
    .action(async () => {
      const infra = await acquireInfrastructure({ progress: createProgress() });
      const out = process.stdout;
      out.write(`Kafka and the schema registry are ready (${infra.source}).\n`);
      out.write(`  export KAFKA_BROKERS=${infra.brokers.join(',')}\n`);
      out.write(`  export SCHEMA_REGISTRY_URL=${infra.registryUrl}\n`);
      out.write(
        infra.owned
          ? 'Press Ctrl-C to stop them.\n'
          : 'They were already running and stay up after Ctrl-C (`npm run infra -- down` stops them).\n',
      );
      // The watch timer also keeps this process alive: signal listeners alone do not.
      const timer = watch(infra, out);
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
      clearInterval(timer);
      out.write('\nStopping…\n');
      await infra.release();
      if (infra.owned) out.write('Stopped.\n');
    });
}
