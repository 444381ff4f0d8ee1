import kafkajs from 'kafkajs';

/**
 * The errors the simulated broker answers with, made with kafkajs's own classes so that the
 * runtime's classification sees exactly what it sees against a real broker.
 */
const {
  KafkaJSProtocolError,
  KafkaJSConnectionError,
  KafkaJSRequestTimeoutError,
  KafkaJSNumberOfRetriesExceeded,
} = kafkajs;

const CODES = {
  ILLEGAL_GENERATION: { code: 22, retriable: false },
  UNKNOWN_MEMBER_ID: { code: 25, retriable: false },
  REBALANCE_IN_PROGRESS: { code: 27, retriable: false },
  INVALID_PRODUCER_EPOCH: { code: 47, retriable: false },
  CONCURRENT_TRANSACTIONS: { code: 51, retriable: true },
  PRODUCER_FENCED: { code: 90, retriable: false },
} as const;

export type ProtocolType = keyof typeof CODES;

/** What a broker error response looks like to kafkajs (KafkaJSProtocolError). */
export function protocolError(type: ProtocolType, message: string = type): Error {
  const { code, retriable } = CODES[type];
  const e = Object.assign(new Error(message), { type, code, retriable });
  return new KafkaJSProtocolError(e);
}

export function connectionError(what: string): Error {
  return new KafkaJSConnectionError(`Connection error (simulated) during ${what}`);
}

/**
 * A request whose answer never came, retried by kafkajs until it gave up: what the caller
 * gets when the broker was unreachable for longer than the retries (it may have applied it).
 */
export function retriesExhausted(what: string): Error {
  const timeout = new KafkaJSRequestTimeoutError(`Request ${what} timed out (simulated)`);
  return new KafkaJSNumberOfRetriesExceeded(timeout, { retryCount: 10, retryTime: 2000 });
}

function typeOf(error: unknown): string | undefined {
  const type = (error as { type?: unknown } | null)?.type;
  return typeof type === 'string' ? type : undefined;
}

export function isFencing(error: unknown): boolean {
  const type = typeOf(error);
  return type === 'INVALID_PRODUCER_EPOCH' || type === 'PRODUCER_FENCED';
}

/** A group error after which the member must rejoin (kafkajs's isRebalancing and friends). */
export function isRebalance(error: unknown): boolean {
  const type = typeOf(error);
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}

export function isUnknownMember(error: unknown): boolean {
  return typeOf(error) === 'UNKNOWN_MEMBER_ID';
}
