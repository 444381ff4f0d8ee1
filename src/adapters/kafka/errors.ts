import { isMembraneError, MembraneError, messageOf } from '../../core/errors.js';

/**
 * One place that says what a kafkajs error means for membrane. The runtime asks
 * {@link classifyKafkaError} about anything thrown while fencing, restoring, producing,
 * committing a transaction or committing offsets, and acts on the kind:
 *
 * - `migrated` — another member owns the task now (its producer was fenced, or the group
 *   moved on while we were working). Close the task without committing and never retry it
 *   with a new producer: the new owner has it. See {@link MIGRATED_TYPES}.
 * - `transient` — retrying can help (the network, a broker restarting, a leader or
 *   coordinator moving, a timeout). Retry the chunk after a pause; never quarantine.
 * - `fatal` — no retry can help (authorization, a missing output topic, a record the cluster
 *   refuses, a configuration the cluster rejects, a bug). Stop with the one sentence
 *   {@link fatalKafkaError} gives.
 *
 * How an error is read. kafkajs wraps: its retrier turns the last error of an exhausted
 * retry into `KafkaJSNumberOfRetriesExceeded` and an error it will not retry into
 * `KafkaJSNonRetriableError`, each with the original as `cause` (the wrapper copies the
 * original's message, so the wrapper alone says little). So the chain `error → cause → …`
 * is walked, and:
 * 1. a Kafka error type anywhere in it that is in {@link MIGRATED_TYPES} → migrated;
 * 2. one in {@link FATAL_TYPES} (or a SASL authentication failure) → fatal;
 * 3. `UNKNOWN_TOPIC_OR_PARTITION` under a retries-exceeded wrapper → fatal: kafkajs
 *    retries it while metadata propagates, so when it persists the topic is gone (a deleted
 *    output topic with auto-creation off). Alone it is transient;
 * 4. otherwise, from the innermost error outward, the first that says something decides:
 *    - a Node socket error (ECONNRESET…) at the root → transient;
 *    - a MembraneError → its own `retriable` (membrane's code already judged it);
 *    - a Kafka error: a type in {@link TRANSIENT_TYPES}, a protocol error kafkajs marks
 *      retriable, or a connection, request-timeout, broker- or coordinator-not-found,
 *      metadata or lock-timeout error → transient; any other non-retriable protocol error
 *      (`UNKNOWN`, an unknown code…) and a `KafkaJSNonRetriableError` with no cause
 *      (kafkajs's own "Transaction state exception": membrane used a producer after its
 *      transaction failed) → fatal;
 *    - a kafkajs retry wrapper around an error that is not Kafka's (a TypeError thrown
 *      inside a callback kafkajs retried) → fatal, named after that error;
 * 5. nothing Kafka's or membrane's in the chain (a TypeError) → a bug, fatal.
 *
 * What a Kafka 3.9 broker sends kafkajs 2.2.4 (checked against the local broker): a fenced
 * transactional producer gets `INVALID_PRODUCER_EPOCH` on send, sendOffsets and commit
 * (brokers translate `PRODUCER_FENCED` for the old request versions kafkajs speaks; kafkajs
 * would show that code, 90, as "Unknown error code 90", which is read back here); a send
 * to a topic that does not exist fails after the retries with
 * `KafkaJSNumberOfRetriesExceeded` caused by `UNKNOWN_TOPIC_OR_PARTITION`, naming no topic.
 */
export type KafkaErrorKind = 'migrated' | 'transient' | 'fatal';

export interface KafkaErrorClass {
  readonly kind: KafkaErrorKind;
  /**
   * What decided it: the Kafka error type (`INVALID_PRODUCER_EPOCH`), else the kafkajs error
   * name (`KafkaJSConnectionError`), the MembraneError code, or the Node error code;
   * undefined for a plain error.
   */
  readonly type: string | undefined;
  /** The deciding error's message, for logs (kafkajs's own words). */
  readonly message: string;
  /** The topic the error is about, when an error in the chain names it. */
  readonly topic?: string;
}

/**
 * Errors that mean this member no longer owns the task.
 * - `PRODUCER_FENCED`, `INVALID_PRODUCER_EPOCH`: a newer producer with the task's
 *   transactional ID exists (the task's new owner); this one's transaction is aborted.
 * - `UNKNOWN_MEMBER_ID`, `ILLEGAL_GENERATION`, `FENCED_INSTANCE_ID`: an offset commit (or
 *   heartbeat) from a member the group has evicted or moved past; its assignment is void.
 * - `REBALANCE_IN_PROGRESS`: on an offset commit, the group is reassigning partitions; the
 *   commit is refused and the partition may go elsewhere. Retrying the commit in place
 *   cannot succeed before the member rejoins, and after it rejoins the task is either gone
 *   or adopted afresh from the committed offset — which is what closing it does. (At least
 *   once, the records already written are written again by whoever owns the partition
 *   next; exactly once, nothing was committed.)
 */
export const MIGRATED_TYPES: readonly string[] = [
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'REBALANCE_IN_PROGRESS',
  'FENCED_INSTANCE_ID',
];

/** What a fatal error is about, the MembraneError code it becomes, and what to do. */
interface Fatal {
  readonly code: string;
  readonly sentence: (type: string, topics: string) => string;
  readonly hint: string;
}

const AUTHORIZATION: Fatal = {
  code: 'kafka.authorization',
  sentence: (type, topics) =>
    type === 'TOPIC_AUTHORIZATION_FAILED'
      ? `membrane is not authorised to use ${topics} (${type})`
      : type === 'GROUP_AUTHORIZATION_FAILED'
        ? `membrane is not authorised to use its consumer group (${type})`
        : type === 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED'
          ? `membrane is not authorised to use its transactional IDs (${type})`
          : `membrane is not authorised by the Kafka cluster (${type})`,
  hint: 'grant the principal membrane connects as: read on its upstream topics; write on its output, quarantine and state topics; its consumer group (MEMBRANE_GROUP_ID); and transactional IDs starting with the group ID',
};
const AUTHENTICATION: Fatal = {
  code: 'kafka.authentication',
  sentence: (type) => `the Kafka cluster refused membrane's credentials (${type})`,
  hint: 'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD',
};
const TOO_LARGE: Fatal = {
  code: 'kafka.record-too-large',
  sentence: (type, topics) =>
    `the Kafka cluster refused a record or batch for ${topics} as too large (${type})`,
  hint: "raise the topic's max.message.bytes (membrane reads it at startup and quarantines larger records) or the broker's message.max.bytes",
};
const TOPIC_INVALID: Fatal = {
  code: 'kafka.topic-invalid',
  sentence: (type, topics) => `the Kafka cluster refused ${topics} as an invalid topic (${type})`,
  hint: "check the topic names in the mappings' `to:` and the quarantine topic setting",
};
const TOPIC_MISSING: Fatal = {
  code: 'kafka.topic-missing',
  sentence: (type, topics) =>
    `${topics} does not exist (${type} persisted through kafkajs's retries)`,
  hint: 'create the topic (membrane run creates missing topics only at startup), or check it was not deleted',
};
const UNSUPPORTED: Fatal = {
  code: 'kafka.unsupported',
  sentence: (type) => `the Kafka cluster does not support what membrane asked of it (${type})`,
  hint: 'membrane needs Kafka 2.5 or newer with the default message format',
};
const CONFIG: Fatal = {
  code: 'kafka.config-rejected',
  sentence: (type) => `the Kafka cluster rejected membrane's settings (${type})`,
  hint: "check the producer and consumer settings against the broker's limits (transaction.max.timeout.ms, group.max.size, session timeouts)",
};
const RECORD_REFUSED: Fatal = {
  code: 'kafka.record-refused',
  sentence: (type, topics) => `the Kafka cluster refused a record for ${topics} (${type})`,
  hint: "check the topic's configuration (a compacted topic needs keys; message.timestamp.* bounds the timestamps membrane copies)",
};
const BUG: Fatal = {
  code: 'kafka.bug',
  sentence: (type) => `membrane hit a bug of its own talking to Kafka (${type})`,
  hint: 'please report it with the log lines around it',
};
const NON_RETRIABLE: Fatal = {
  code: 'kafka.non-retriable',
  sentence: (type) => `a Kafka request failed in a way retrying cannot fix (${type})`,
  hint: 'see the error type in the Kafka protocol documentation; restarting will not help until it is addressed',
};

/** Kafka error types no retry can help with, and what each becomes. */
const FATAL: Readonly<Record<string, Fatal>> = {
  TOPIC_AUTHORIZATION_FAILED: AUTHORIZATION,
  GROUP_AUTHORIZATION_FAILED: AUTHORIZATION,
  CLUSTER_AUTHORIZATION_FAILED: AUTHORIZATION,
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: AUTHORIZATION,
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: AUTHORIZATION,
  SASL_AUTHENTICATION_FAILED: AUTHENTICATION,
  UNSUPPORTED_SASL_MECHANISM: AUTHENTICATION,
  ILLEGAL_SASL_STATE: AUTHENTICATION,
  MESSAGE_TOO_LARGE: TOO_LARGE,
  RECORD_LIST_TOO_LARGE: TOO_LARGE,
  INVALID_TOPIC_EXCEPTION: TOPIC_INVALID,
  UNSUPPORTED_VERSION: UNSUPPORTED,
  UNSUPPORTED_FOR_MESSAGE_FORMAT: UNSUPPORTED,
  UNSUPPORTED_COMPRESSION_TYPE: UNSUPPORTED,
  INVALID_REQUIRED_ACKS: CONFIG,
  INVALID_CONFIG: CONFIG,
  INVALID_TRANSACTION_TIMEOUT: CONFIG,
  INVALID_SESSION_TIMEOUT: CONFIG,
  INCONSISTENT_GROUP_PROTOCOL: CONFIG,
  INVALID_GROUP_ID: CONFIG,
  GROUP_MAX_SIZE_REACHED: CONFIG,
  INVALID_RECORD: RECORD_REFUSED,
  INVALID_TIMESTAMP: RECORD_REFUSED,
  // Only membrane's own misuse gets these: a transaction call out of order, an offset
  // commit too large for the broker.
  INVALID_TXN_STATE: BUG,
  OFFSET_METADATA_TOO_LARGE: BUG,
  INVALID_COMMIT_OFFSET_SIZE: BUG,
};

/** Kafka error types that are fatal whatever kafkajs says of them (see FATAL). */
export const FATAL_TYPES: readonly string[] = Object.keys(FATAL);

/**
 * Kafka error types that are transient although kafkajs marks them non-retriable, besides
 * every type kafkajs marks retriable (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
 * CONCURRENT_TRANSACTIONS, REQUEST_TIMED_OUT, NOT_LEADER_FOR_PARTITION, LEADER_NOT_AVAILABLE,
 * NETWORK_EXCEPTION, NOT_ENOUGH_REPLICAS, KAFKA_STORAGE_ERROR…):
 * - `BROKER_NOT_AVAILABLE`: a broker restarting;
 * - `UNKNOWN_PRODUCER_ID`, `INVALID_PRODUCER_ID_MAPPING`, `OUT_OF_ORDER_SEQUENCE_NUMBER`,
 *   `DUPLICATE_SEQUENCE_NUMBER`: the broker lost or expired the producer's state (retention,
 *   `transactional.id.expiration.ms`, a failover); the transaction aborts and a new producer
 *   — which the runtime makes for a retried chunk — starts clean;
 * - `TRANSACTION_COORDINATOR_FENCED`: the transaction coordinator moved;
 * - `OPERATION_NOT_ATTEMPTED`: another part of the same batch failed; that error decides;
 * - `THROTTLING_QUOTA_EXCEEDED`, `UNKNOWN_TOPIC_ID`: codes kafkajs does not know.
 */
export const TRANSIENT_TYPES: readonly string[] = [
  'BROKER_NOT_AVAILABLE',
  'UNKNOWN_PRODUCER_ID',
  'INVALID_PRODUCER_ID_MAPPING',
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'DUPLICATE_SEQUENCE_NUMBER',
  'TRANSACTION_COORDINATOR_FENCED',
  'OPERATION_NOT_ATTEMPTED',
  'THROTTLING_QUOTA_EXCEEDED',
  'UNKNOWN_TOPIC_ID',
];

/** Kafka error codes newer than kafkajs 2.2.4's table, which it reports as "Unknown error code N". */
const NEWER_CODES: Readonly<Record<number, string>> = {
  89: 'THROTTLING_QUOTA_EXCEEDED',
  90: 'PRODUCER_FENCED',
  100: 'UNKNOWN_TOPIC_ID',
};

/** kafkajs error classes that are transient whatever their `retriable` flag says. */
const TRANSIENT_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSNoBrokerAvailableError',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSTimeout',
  'KafkaJSLockTimeout',
]);

/** kafkajs's retrier wraps the error it gave up on in these, keeping it as `cause`. */
const WRAPPERS = new Set(['KafkaJSNumberOfRetriesExceeded', 'KafkaJSNonRetriableError']);

/** Node socket errors: transient at the root of a chain kafkajs did not wrap. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

interface Link {
  readonly error: object;
  readonly name: string;
  readonly message: string;
  /** The Kafka protocol error type, for a KafkaJSProtocolError (and its subclasses). */
  readonly type: string | undefined;
  readonly kafka: boolean;
  readonly retriable: boolean | undefined;
}

const MAX_CHAIN = 16;

function field(value: object, key: string): unknown {
  return (value as Record<string, unknown>)[key];
}

function linkOf(error: object): Link {
  const name = typeof field(error, 'name') === 'string' ? (field(error, 'name') as string) : '';
  const message = messageOf(error);
  const kafka = name.startsWith('KafkaJS');
  let type =
    kafka && typeof field(error, 'type') === 'string'
      ? (field(error, 'type') as string)
      : undefined;
  if (type === 'KAFKAJS_UNKNOWN_ERROR_CODE') {
    const code = Number(/^Unknown error code (-?\d+)$/.exec(message)?.[1]);
    type = NEWER_CODES[code] ?? type;
  }
  const retriable = field(error, 'retriable');
  return {
    error,
    name,
    message,
    type,
    kafka,
    retriable: typeof retriable === 'boolean' ? retriable : undefined,
  };
}

/** The error and its causes, outermost first; stops at a cycle or after 16 links. */
function chainOf(error: unknown): Link[] {
  const links: Link[] = [];
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (
    current !== null &&
    typeof current === 'object' &&
    !seen.has(current) &&
    links.length < MAX_CHAIN
  ) {
    seen.add(current);
    links.push(linkOf(current));
    current = field(current, 'cause');
  }
  return links;
}

function topicIn(links: readonly Link[]): string | undefined {
  for (const link of links) {
    const topic = field(link.error, 'topic');
    if (typeof topic === 'string' && topic !== '') return topic;
  }
  return undefined;
}

function result(
  kind: KafkaErrorKind,
  link: Link | undefined,
  type: string | undefined,
  topic: string | undefined,
  fallback: string,
): KafkaErrorClass {
  const message = link?.message ?? fallback;
  return topic === undefined ? { kind, type, message } : { kind, type, message, topic };
}

const SEVERITY: Readonly<Record<KafkaErrorKind, number>> = { transient: 0, migrated: 1, fatal: 2 };

/**
 * What a thrown value means for the task that met it: `migrated`, `transient` or `fatal`
 * (see the rules above). Pure; never throws. An aggregate (`errors: [...]`, as
 * `KafkaJSAggregateError` and `AggregateError` carry) takes the most severe of its parts.
 */
export function classifyKafkaError(error: unknown): KafkaErrorClass {
  const errors = error !== null && typeof error === 'object' ? field(error, 'errors') : undefined;
  if (Array.isArray(errors) && errors.length > 0) {
    let worst: KafkaErrorClass | undefined;
    for (const part of errors.slice(0, MAX_CHAIN)) {
      const classified = classifyKafkaError(part);
      if (worst === undefined || SEVERITY[classified.kind] > SEVERITY[worst.kind])
        worst = classified;
    }
    if (worst !== undefined) return worst;
  }
  const links = chainOf(error);
  const topic = topicIn(links);
  const fallback = messageOf(error);

  const migrated = links.find(
    (link) => link.type !== undefined && MIGRATED_TYPES.includes(link.type),
  );
  if (migrated) return result('migrated', migrated, migrated.type, topic, fallback);

  const fatal = links.find(
    (link) =>
      (link.type !== undefined && Object.hasOwn(FATAL, link.type)) ||
      link.name === 'KafkaJSSASLAuthenticationError',
  );
  if (fatal) return result('fatal', fatal, fatal.type ?? fatal.name, topic, fallback);

  const missing = links.find((link) => link.type === 'UNKNOWN_TOPIC_OR_PARTITION');
  if (missing && links.some((link) => link.name === 'KafkaJSNumberOfRetriesExceeded'))
    return result('fatal', missing, missing.type, topic, fallback);

  // From the innermost error outward, the first that says something decides.
  const root = links.at(-1);
  for (let i = links.length - 1; i >= 0; i--) {
    const link = links[i] as Link;
    const code = field(link.error, 'code');
    if (link === root && !link.kafka && typeof code === 'string' && NETWORK_CODES.has(code))
      return result('transient', link, code, topic, fallback);
    if (isMembraneError(link.error))
      return result(
        link.error.retriable ? 'transient' : 'fatal',
        link,
        link.error.code,
        topic,
        fallback,
      );
    if (!link.kafka) continue;
    // A kafkajs retry wrapper around something that is not Kafka's: a bug (a TypeError
    // thrown inside a callback kafkajs retried).
    if (WRAPPERS.has(link.name) && root !== undefined && link !== root)
      return result('fatal', root, root.name === '' ? undefined : root.name, topic, fallback);
    const type = link.type ?? link.name;
    if (link.type !== undefined && TRANSIENT_TYPES.includes(link.type))
      return result('transient', link, type, topic, fallback);
    if (TRANSIENT_NAMES.has(link.name)) return result('transient', link, type, topic, fallback);
    // A protocol error kafkajs marks retriable; a plain KafkaJSError (retriable by default).
    return result(link.retriable === true ? 'transient' : 'fatal', link, type, topic, fallback);
  }
  // Nothing Kafka's and nothing membrane's: a bug.
  const first = links[0];
  return result('fatal', first, first?.name === '' ? undefined : first?.name, topic, fallback);
}

/** The fatal description for a classified error's type. */
function fatalFor(type: string | undefined): Fatal {
  if (type === undefined) return BUG;
  const listed = FATAL[type];
  if (listed !== undefined) return listed;
  switch (type) {
    case 'KafkaJSSASLAuthenticationError':
      return AUTHENTICATION;
    case 'UNKNOWN_TOPIC_OR_PARTITION':
      return TOPIC_MISSING;
    case 'KafkaJSServerDoesNotSupportApiKey':
    case 'KafkaJSUnsupportedMagicByteInMessageSet':
      return UNSUPPORTED;
    // kafkajs's own state checks ("Transaction state exception…") and invariants: misuse.
    case 'KafkaJSNonRetriableError':
    case 'KafkaJSInvariantViolation':
      return BUG;
  }
  // Another Kafka error type or kafkajs error; anything else is not Kafka's: a bug.
  return type.startsWith('KafkaJS') || /^[A-Z][A-Z0-9_]*$/.test(type) ? NON_RETRIABLE : BUG;
}

/**
 * The one-sentence, non-retriable MembraneError to stop with for a fatal classification:
 * `kafka.authorization`, `kafka.authentication`, `kafka.topic-missing`, `kafka.topic-invalid`,
 * `kafka.record-too-large`, `kafka.record-refused`, `kafka.unsupported`,
 * `kafka.config-rejected`, `kafka.non-retriable` (another non-retriable Kafka error) or `kafka.bug`,
 * each with a hint. kafkajs rarely says which topic an error is about; pass the topics the
 * failed operation wrote to (`topics`) and the sentence names them when the error does not.
 * Membrane's own errors (a MembraneError in the chain decided) are returned as they are.
 */
export function fatalKafkaError(
  classified: KafkaErrorClass,
  cause: unknown,
  topics: readonly string[] = [],
): MembraneError {
  if (isMembraneError(cause) && classified.type === cause.code) return cause;
  const fatal = fatalFor(classified.type);
  const named = classified.topic !== undefined ? [classified.topic] : [...new Set(topics)];
  const where =
    named.length === 0
      ? 'a topic membrane writes to'
      : named.length === 1
        ? `topic ${named[0] ?? ''}`
        : `one of the topics ${named.join(', ')}`;
  let sentence = fatal.sentence(classified.type ?? 'no Kafka error type', where);
  if (fatal === BUG || fatal === NON_RETRIABLE) sentence += `: ${classified.message}`;
  if (!sentence.startsWith('membrane'))
    sentence = `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}`;
  return new MembraneError(fatal.code, sentence.endsWith('.') ? sentence : `${sentence}.`, {
    retriable: false,
    cause,
    hint: fatal.hint,
  });
}

/**
 * What a command (`status`, the quarantine commands, `doctor`, `dev`) reports for an error a
 * kafkajs call threw after the connection was checked: a MembraneError as it is; a fatal
 * Kafka error as {@link fatalKafkaError}'s one sentence (an ACL refusal is
 * `kafka.authorization`, exit 77); a transient one (the connection lost, a timeout) as
 * `kafka.unreachable`. What is not Kafka's (a TypeError: a bug) is returned unchanged, so that
 * its stack is shown.
 */
export function commandKafkaError(error: unknown): unknown {
  if (isMembraneError(error)) return error;
  const classified = classifyKafkaError(error);
  if (classified.type === undefined) return error;
  if (classified.kind === 'transient')
    return new MembraneError(
      'kafka.unreachable',
      `The Kafka cluster stopped answering (${classified.type}): ${oneLine(classified.message)}.`,
      {
        retriable: true,
        cause: error,
        hint: 'check that the brokers in KAFKA_BROKERS are up and reachable, then try again',
      },
    );
  const fatal = fatalKafkaError(classified, error);
  return fatal.code === 'kafka.bug' ? error : fatal;
}

function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').replace(/\.+$/, '');
}

/** Runs `work`, turning what kafkajs throws into {@link commandKafkaError}'s error. */
export async function withKafkaErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw commandKafkaError(error);
  }
}
