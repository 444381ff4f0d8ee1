import { Command } from 'commander';
import { describeCluster } from '../../adapters/kafka/client.js';
import { pingRegistry } from '../../adapters/registry/client.js';
import { loadConnectionConfig } from '../../app/config.js';
import { messageOf } from '../../core/errors.js';
import { redactUrl } from '../../core/redact.js';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check that KAFKA_BROKERS and SCHEMA_REGISTRY_URL answer (exit 1 if not)')
    .action(async () => {
      const config = loadConnectionConfig();
      const [kafka, registry] = await Promise.allSettled([
        describeCluster(config.KAFKA_BROKERS, 5000),
        pingRegistry(
          {
            url: config.SCHEMA_REGISTRY_URL,
            ...(config.SCHEMA_REGISTRY_USERNAME === undefined
              ? {}
              : { username: config.SCHEMA_REGISTRY_USERNAME }),
            ...(config.SCHEMA_REGISTRY_PASSWORD === undefined
              ? {}
              : { password: config.SCHEMA_REGISTRY_PASSWORD }),
          },
          5000,
        ),
      ]);
      const registryUrl = redactUrl(config.SCHEMA_REGISTRY_URL);
      const out = process.stdout;
      out.write(
        kafka.status === 'fulfilled'
          ? `ok    Kafka ${config.KAFKA_BROKERS.join(',')}: cluster ${kafka.value.clusterId}, ${kafka.value.brokers.length} broker(s)\n`
          : `FAIL  Kafka ${config.KAFKA_BROKERS.join(',')}: ${messageOf(kafka.reason)}\n`,
      );
      out.write(
        registry.status === 'fulfilled'
          ? `ok    Registry ${registryUrl}: ${registry.value.length} subject(s)\n`
          : `FAIL  Registry ${registryUrl}: ${messageOf(registry.reason)}\n`,
      );
      process.exitCode = kafka.status === 'fulfilled' && registry.status === 'fulfilled' ? 0 : 1;
    });
}
