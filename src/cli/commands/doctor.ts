import { Command } from 'commander';
import { kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { commandKafkaError } from '../../adapters/kafka/errors.js';
import { reachRegistry, registryOptions } from '../../adapters/registry/connection.js';
import { loadConnectionConfig } from '../../app/config.js';
import { redactUrl } from '../../core/redact.js';
import { reportError } from '../errors.js';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description(
      'check that KAFKA_BROKERS and SCHEMA_REGISTRY_URL answer with the configured TLS and credentials (exit codes as `membrane run`)',
    )
    .action(async () => {
      const config = loadConnectionConfig();
      // The same connection as every other command: TLS, SASL, registry credentials.
      const [kafka, registry] = await Promise.allSettled([
        reachKafka(kafkaConnection(config, 'doctor')).catch((error: unknown) => {
          throw commandKafkaError(error);
        }),
        reachRegistry(registryOptions(config), config.KAFKA_CONNECT_TIMEOUT_MS),
      ]);
      const out = process.stdout;
      if (kafka.status === 'fulfilled')
        out.write(
          `ok    Kafka ${config.KAFKA_BROKERS.join(',')}: cluster ${kafka.value.clusterId}, ${kafka.value.brokers.length} broker(s)\n`,
        );
      if (registry.status === 'fulfilled')
        out.write(
          `ok    Registry ${redactUrl(config.SCHEMA_REGISTRY_URL)}: ${registry.value.length} subject(s)\n`,
        );
      // Each fault as one sentence on stderr; the exit code is the first one's (Kafka's).
      let code = 0;
      for (const check of [kafka, registry]) {
        if (check.status === 'fulfilled') continue;
        const exit = reportError(check.reason);
        if (code === 0) code = exit;
      }
      process.exitCode = code;
    });
}
