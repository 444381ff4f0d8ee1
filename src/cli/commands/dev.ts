import { once } from 'node:events';
import { join } from 'node:path';
import { Command } from 'commander';
import { createKafka } from '../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { commandKafkaError, withKafkaErrors } from '../../adapters/kafka/errors.js';
import { pingRegistry } from '../../adapters/registry/client.js';
import { reachRegistry, registryOptions } from '../../adapters/registry/connection.js';
import { loadConnectionConfig, loadRunConfig, type ConnectionConfig } from '../../app/config.js';
import { demoSummary, startDemoFeed } from '../../app/demo.js';
import { createLogger } from '../../app/logger.js';
import { Runtime } from '../../app/runtime/bootstrap.js';
import { messageOf } from '../../core/errors.js';
import { redactUrl } from '../../core/redact.js';
import { projectRoot } from '../../infra/paths.js';
import { createProgress } from '../../infra/progress.js';
import { acquireInfrastructure } from '../../infra/select.js';

const WATCH_MS = 5_000;

/** Says once when Kafka or the registry stops answering, and once when it is back. */
function watch(
  connection: ConnectionConfig,
  out: NodeJS.WriteStream,
  report: () => Promise<string | undefined>,
): NodeJS.Timeout {
  let down = new Set<string>();
  const kafka = { ...kafkaConnection(connection, 'dev-watch'), connectTimeoutMs: 3000 };
  return setInterval(() => {
    void Promise.allSettled([
      reachKafka(kafka),
      pingRegistry(registryOptions(connection), 3000),
      report(),
    ]).then(([kafka, registry, summary]) => {
      const now = new Set<string>();
      if (kafka.status === 'rejected') now.add(`Kafka does not answer: ${messageOf(kafka.reason)}`);
      if (registry.status === 'rejected')
        now.add(`the registry does not answer: ${messageOf(registry.reason)}`);
      for (const problem of now) if (!down.has(problem)) out.write(`! ${problem}\n`);
      if (down.size > 0 && now.size === 0) out.write('Kafka and the registry answer again.\n');
      down = now;
      if (summary.status === 'fulfilled' && summary.value !== undefined)
        out.write(`${summary.value}\n`);
    });
  }, WATCH_MS);
}

export function devCommand(): Command {
  return new Command('dev')
    .description(
      'bring up Kafka and the registry, run membrane on the example mappings and feed it example records, until Ctrl-C',
    )
    .option('--infra-only', 'only bring up Kafka and the registry')
    .action(async (options: { infraOnly?: boolean }) => {
      const infra = await acquireInfrastructure({ progress: createProgress() });
      const out = process.stdout;
      // The same TLS, SASL and registry settings as every command (an existing cluster may
      // need them), with the brokers and registry found.
      const connection = loadConnectionConfig({
        ...process.env,
        KAFKA_BROKERS: infra.brokers.join(','),
        SCHEMA_REGISTRY_URL: infra.registryUrl,
      });
      const registry = registryOptions(connection);
      // Checked as every command checks them, within KAFKA_CONNECT_TIMEOUT_MS: one sentence
      // and the documented exit code when either does not answer or refuses membrane.
      const [kafkaCheck, registryCheck] = await Promise.allSettled([
        reachKafka(kafkaConnection(connection, 'dev')),
        reachRegistry(registry, connection.KAFKA_CONNECT_TIMEOUT_MS),
      ]);
      for (const check of [kafkaCheck, registryCheck])
        if (check.status === 'rejected') {
          await infra.release();
          throw commandKafkaError(check.reason);
        }
      out.write(`Kafka and the schema registry are ready (${infra.source}).\n`);
      out.write(`  export KAFKA_BROKERS=${infra.brokers.join(',')}\n`);
      // An existing registry's URL may carry credentials: shown without them.
      out.write(`  export SCHEMA_REGISTRY_URL=${redactUrl(infra.registryUrl)}\n`);

      let runtime: Runtime | undefined;
      let feed: { stop(): Promise<void> } | undefined;
      if (!options.infraOnly) {
        const root = projectRoot();
        process.loadEnvFile(join(root, 'mappings', 'example.env'));
        const config = loadRunConfig({
          ...process.env,
          KAFKA_BROKERS: infra.brokers.join(','),
          SCHEMA_REGISTRY_URL: infra.registryUrl,
          MEMBRANE_MAPPINGS: join(root, 'mappings'),
          MEMBRANE_GROUP_ID: process.env['MEMBRANE_GROUP_ID'] ?? 'membrane-dev',
          MEMBRANE_HTTP_PORT: process.env['MEMBRANE_HTTP_PORT'] ?? '0',
          LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'error',
        });
        feed = await withKafkaErrors(() =>
          startDemoFeed(
            createKafka(clientOptions(kafkaConnection(connection, 'dev-feed'))),
            registry,
            process.env['ERP_HMAC_KEY_1'] ?? '',
            root,
          ),
        );
        runtime = new Runtime({ config, logger: createLogger(config.LOG_LEVEL) });
        await runtime.start();
        out.write(
          `membrane runs the example mappings (metrics on http://127.0.0.1:${runtime.httpPort ?? 0}/metrics), fed with example records:\n`,
        );
      }
      out.write(
        infra.owned
          ? 'Press Ctrl-C to stop.\n'
          : 'Kafka and the registry were already running and stay up after Ctrl-C (`npm run infra -- down` stops them).\n',
      );
      const running = runtime;
      // The watch timer also keeps this process alive: signal listeners alone do not.
      const timer = watch(connection, out, () =>
        running ? demoSummary(running.metrics) : Promise.resolve(undefined),
      );
      await Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]);
      clearInterval(timer);
      out.write('\nStopping…\n');
      await feed?.stop();
      if (runtime) {
        out.write(`${await demoSummary(runtime.metrics)}\n`);
        await runtime.stop();
      }
      await infra.release();
      if (infra.owned) out.write('Stopped.\n');
    });
}
