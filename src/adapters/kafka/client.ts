import { Kafka, logLevel, type KafkaConfig, type logCreator } from 'kafkajs';
import type { Logger } from 'pino';

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** kafkajs logs go here, at warn and above; none when absent. */
  readonly logger?: Logger;
  readonly connectionTimeout?: number;
  readonly requestTimeout?: number;
  readonly retry?: KafkaConfig['retry'];
}

function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, ...extra } = log;
      const fields = { namespace, ...extra };
      if (level === logLevel.ERROR) child.error(fields, message);
      else if (level === logLevel.WARN) child.warn(fields, message);
      else if (level === logLevel.INFO) child.info(fields, message);
      else child.debug(fields, message);
    };
}

/** The one place a kafkajs client is built, so every command and test connects alike. */
export function createKafka(options: KafkaClientOptions): Kafka {
  const { logger } = options;
  return new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 30000,
    ...(options.retry ? { retry: options.retry } : {}),
    logLevel: logger ? logLevel.WARN : logLevel.NOTHING,
    ...(logger ? { logCreator: pinoLogCreator(logger) } : {}),
  });
}

export interface ClusterInfo {
  readonly clusterId: string;
  readonly brokers: readonly { readonly nodeId: number; readonly host: string; readonly port: number }[];
  readonly controller: number | null;
}

/** Asks the cluster for its metadata; throws when no broker answers. */
export async function describeCluster(
  brokers: readonly string[],
  timeoutMs = 3000,
): Promise<ClusterInfo> {
  const admin = createKafka({
    brokers,
    clientId: 'membrane-health',
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return cluster;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
