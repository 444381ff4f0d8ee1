import {
  Kafka,
  logLevel,
  Partitioners,
  type KafkaConfig,
  type logCreator,
  type Producer,
  type ProducerConfig,
  type SASLOptions,
} from 'kafkajs';
import type { Logger } from 'pino';
import { registerCodecs } from './codecs.js';

export interface KafkaClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** kafkajs logs go here, at warn and above; none when absent. */
  readonly logger?: Logger;
  readonly connectionTimeout?: number;
  readonly requestTimeout?: number;
  readonly retry?: KafkaConfig['retry'];
  /** How long SASL authentication may take (kafkajs's default: 10 s). */
  readonly authenticationTimeout?: number;
  /** true (the system's CAs) or tls.connect options; see ./connection.ts. */
  readonly ssl?: KafkaConfig['ssl'];
  readonly sasl?: SASLOptions;
}

/**
 * kafkajs warns "Limiting retries for the idempotent producer may invalidate EoS guarantees"
 * whenever an idempotent producer is given a retry count (membrane's transactional task
 * producer has 10). The warning is about a send that gave up although the broker may have
 * written it, and an application that then sends the records again outside the idempotent
 * sequence: duplicates. It does not apply to membrane: a transactional producer's failed
 * send fails its transaction, which membrane aborts (what the broker wrote is never visible
 * to read_committed consumers, the input offsets are not committed) and redoes from the
 * input with a new producer; the at-least-once producer promises at-least-once. Retrying
 * for ever inside kafkajs would instead hide an outage from membrane's own retry and stall
 * detection. So this one message, and only it, is dropped.
 */
export const IGNORED_KAFKAJS_WARNING =
  'Limiting retries for the idempotent producer may invalidate EoS guarantees';

/**
 * A kafkajs client whose producers use the DefaultPartitioner (kafkajs 2's default, Java's
 * murmur2, what membrane has always used) unless told otherwise: chosen explicitly, kafkajs
 * does not print its "switched default partitioner" notice.
 */
class MembraneKafka extends Kafka {
  override producer(config: ProducerConfig = {}): Producer {
    return super.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...config });
  }
}

export function pinoLogCreator(logger: Logger): logCreator {
  const child = logger.child({ component: 'kafkajs' });
  return () =>
    ({ namespace, level, log }) => {
      const { message, ...extra } = log;
      if (namespace === 'Producer' && message === IGNORED_KAFKAJS_WARNING) return;
      const fields = { namespace, ...extra };
      // A broker's error answer to one request ("Response AddPartitionsToTxn…": the
      // coordinator is still finishing the previous transaction; "…does not host this
      // topic-partition": metadata not yet propagated) is logged by kafkajs at error level
      // although the caller retries it; what the retries cannot fix surfaces from the caller.
      // Likewise a produce attempt kafkajs is about to retry (a retriable error, logged as
      // "Failed to send messages: …"). Everything else (a consumer crash too) keeps its level.
      if (
        (namespace === 'Connection' && message.startsWith('Response ')) ||
        (namespace === 'Producer' && message.startsWith('Failed to send messages: '))
      )
        child.debug(fields, message);
      else if (level === logLevel.ERROR) child.error(fields, message);
      else if (level === logLevel.WARN) child.warn(fields, message);
      else if (level === logLevel.INFO) child.info(fields, message);
      else child.debug(fields, message);
    };
}

/** The one place a kafkajs client is built, so every command and test connects alike. */
export function createKafka(options: KafkaClientOptions): Kafka {
  registerCodecs();
  const { logger } = options;
  return new MembraneKafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: options.connectionTimeout ?? 3000,
    requestTimeout: options.requestTimeout ?? 30000,
    ...(options.authenticationTimeout === undefined
      ? {}
      : { authenticationTimeout: options.authenticationTimeout }),
    ...(options.retry ? { retry: options.retry } : {}),
    ...(options.ssl ? { ssl: options.ssl } : {}),
    ...(options.sasl ? { sasl: options.sasl } : {}),
    logLevel: logger ? logLevel.WARN : logLevel.NOTHING,
    ...(logger ? { logCreator: pinoLogCreator(logger) } : {}),
  });
}

export interface ClusterInfo {
  readonly clusterId: string;
  readonly brokers: readonly {
    readonly nodeId: number;
    readonly host: string;
    readonly port: number;
  }[];
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

/**
 * Waits until the broker can coordinate consumer groups and transactions. A fresh cluster
 * creates `__consumer_offsets` and `__transaction_state` on first use, and answers
 * NOT_COORDINATOR until they are loaded; this makes that happen before anyone depends on it.
 */
export async function warmUpCoordinators(brokers: readonly string[]): Promise<void> {
  const kafka = createKafka({
    brokers,
    clientId: 'membrane-warmup',
    retry: { retries: 10, initialRetryTime: 100, maxRetryTime: 2000 },
  });
  const admin = kafka.admin();
  const producer = kafka.producer({
    transactionalId: 'membrane-warmup',
    idempotent: true,
    maxInFlightRequests: 1,
  });
  try {
    await admin.connect();
    await admin.describeGroups(['membrane-warmup']);
    await producer.connect();
    const txn = await producer.transaction();
    await txn.abort();
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
}
