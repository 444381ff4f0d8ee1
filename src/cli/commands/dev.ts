import { once } from 'node:events';
import { Command } from 'commander';
import { acquireInfrastructure } from '../../infra/select.js';
import { createProgress } from '../../infra/progress.js';

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
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
      out.write('\nStopping…\n');
      await infra.release();
    });
}
