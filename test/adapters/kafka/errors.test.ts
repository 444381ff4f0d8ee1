import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  classifyKafkaError,
  FATAL_TYPES,
  fatalKafkaError,
  MIGRATED_TYPES,
  TRANSIENT_TYPES,
  type KafkaErrorKind,
} from '../../../src/adapters/kafka/errors.js';
import { MembraneError } from '../../../src/core/errors.js';

// kafkajs's own error classes and the function that builds protocol errors from the broker's
// error codes. (Loaded from its sources: its type declarations give some constructors the
// wrong parameters and leave some classes out.)
const require = createRequire(import.meta.url);
type ErrorClass = new (message?: string | Error, options?: object | string) => Error;
const {
  KafkaJSAggregateError,
  KafkaJSConnectionError,
  KafkaJSCreateTopicError,
  KafkaJSGroupCoordinatorNotFound,
  KafkaJSLockTimeout,
  KafkaJSNoBrokerAvailableError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSTopicMetadataNotLoaded,
} = require('kafkajs/src/errors.js') as Record<
  | 'KafkaJSAggregateError'
  | 'KafkaJSConnectionError'
  | 'KafkaJSCreateTopicError'
  | 'KafkaJSGroupCoordinatorNotFound'
  | 'KafkaJSLockTimeout'
  | 'KafkaJSNoBrokerAvailableError'
  | 'KafkaJSNonRetriableError'
  | 'KafkaJSNumberOfRetriesExceeded'
  | 'KafkaJSRequestTimeoutError'
  | 'KafkaJSSASLAuthenticationError'
  | 'KafkaJSTopicMetadataNotLoaded',
  ErrorClass
>;
type ProtocolError = Error & { readonly type: string; readonly retriable: boolean };
const { createErrorFromCode, errorCodes } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => ProtocolError;
  errorCodes: readonly { type: string; code: number; retriable: boolean }[];
};

/** The KafkaJSProtocolError kafkajs throws when the broker answers with `type`. */
function protocol(type: string): ProtocolError {
  const known = errorCodes.find((entry) => entry.type === type);
  if (!known) throw new Error(`kafkajs has no error type ${type}`);
  return createErrorFromCode(known.code);
}

/** The wrappers an error reaches membrane in, as kafkajs's retrier and membrane build them. */
const wrappings: [string, (error: Error) => unknown][] = [
  ['unwrapped', (error) => error],
  [
    'after kafkajs exhausted its retries',
    (error) => new KafkaJSNumberOfRetriesExceeded(error, { retryCount: 5, retryTime: 300 }),
  ],
  [
    'as kafkajs rethrows what it will not retry',
    (error) => new KafkaJSNonRetriableError(error, { cause: error }),
  ],
  [
    'inside a MembraneError',
    (error) =>
      new MembraneError('kafka.transaction-failed', 'committing failed', {
        retriable: true,
        cause: new KafkaJSNonRetriableError(error, { cause: error }),
      }),
  ],
];

function expectKind(error: unknown, kind: KafkaErrorKind, type?: string): void {
  const classified = classifyKafkaError(error);
  expect(classified.kind).toBe(kind);
  if (type !== undefined) expect(classified.type).toBe(type);
}

describe('kafkajs errors that mean another member owns the task', () => {
  it.each(MIGRATED_TYPES.filter((type) => type !== 'PRODUCER_FENCED'))(
    '%s is migrated, wrapped or not',
    (type) => {
      for (const [, wrap] of wrappings) expectKind(wrap(protocol(type)), 'migrated', type);
    },
  );

  it('PRODUCER_FENCED, a code kafkajs 2.2.4 does not know (90), is migrated too', () => {
    const fenced = createErrorFromCode(90);
    expect(fenced.message).toBe('Unknown error code 90');
    for (const [, wrap] of wrappings) expectKind(wrap(fenced), 'migrated', 'PRODUCER_FENCED');
  });
});

describe('kafkajs errors no retry can help', () => {
  const fatalTypes = [
    'TOPIC_AUTHORIZATION_FAILED',
    'GROUP_AUTHORIZATION_FAILED',
    'CLUSTER_AUTHORIZATION_FAILED',
    'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
    'SASL_AUTHENTICATION_FAILED',
    'MESSAGE_TOO_LARGE',
    'RECORD_LIST_TOO_LARGE',
    'INVALID_TOPIC_EXCEPTION',
    'UNSUPPORTED_VERSION',
    'UNSUPPORTED_FOR_MESSAGE_FORMAT',
    'INVALID_REQUIRED_ACKS',
    'INVALID_CONFIG',
    'INVALID_TXN_STATE',
    'INVALID_TRANSACTION_TIMEOUT',
    'INVALID_RECORD',
  ];

  it.each(fatalTypes)('%s is fatal, wrapped or not', (type) => {
    for (const [, wrap] of wrappings) expectKind(wrap(protocol(type)), 'fatal', type);
  });

  it('a SASL authentication failure is fatal', () => {
    const error = new KafkaJSSASLAuthenticationError('SASL PLAIN authentication failed: bad creds');
    for (const [, wrap] of wrappings)
      expectKind(wrap(error), 'fatal', 'KafkaJSSASLAuthenticationError');
  });

  it('a missing topic is transient once, fatal when it persisted through the retries', () => {
    const missing = protocol('UNKNOWN_TOPIC_OR_PARTITION');
    expectKind(missing, 'transient', 'UNKNOWN_TOPIC_OR_PARTITION');
    // What a send to a deleted topic throws (seen against Kafka 3.9 with auto-creation off).
    expectKind(
      new KafkaJSNumberOfRetriesExceeded(missing, { retryCount: 5, retryTime: 300 }),
      'fatal',
      'UNKNOWN_TOPIC_OR_PARTITION',
    );
  });

  it('a KafkaJSNonRetriableError without a transient cause is fatal', () => {
    // What kafkajs throws when a fenced or failed transaction is used again.
    expectKind(
      new KafkaJSNonRetriableError(
        'Transaction state exception: Cannot call "beginTransaction" in state "COMMITTING"',
      ),
      'fatal',
      'KafkaJSNonRetriableError',
    );
    const bug = new TypeError("Cannot read properties of undefined (reading 'offset')");
    expectKind(new KafkaJSNonRetriableError(bug, { cause: bug }), 'fatal', 'TypeError');
  });

  it('an unknown non-Kafka error is a bug, hence fatal', () => {
    expectKind(new TypeError('x is not a function'), 'fatal', 'TypeError');
    expectKind(new Error('something'), 'fatal', 'Error');
    expectKind('a thrown string', 'fatal', undefined);
    expectKind(undefined, 'fatal', undefined);
    expectKind(new MembraneError('config.invalid', 'bad', { retriable: false }), 'fatal');
  });

  it('a Kafka error code kafkajs does not know, and that is not listed, is fatal', () => {
    const classified = classifyKafkaError(createErrorFromCode(97));
    expect(classified).toMatchObject({
      kind: 'fatal',
      type: 'KAFKAJS_UNKNOWN_ERROR_CODE',
      message: 'Unknown error code 97',
    });
  });
});

describe('kafkajs errors a retry can help', () => {
  const transientTypes = [
    'NOT_COORDINATOR_FOR_GROUP',
    'GROUP_COORDINATOR_NOT_AVAILABLE',
    'GROUP_LOAD_IN_PROGRESS',
    'CONCURRENT_TRANSACTIONS',
    'REQUEST_TIMED_OUT',
    'NOT_LEADER_FOR_PARTITION',
    'LEADER_NOT_AVAILABLE',
    'BROKER_NOT_AVAILABLE',
    'NETWORK_EXCEPTION',
    'NOT_ENOUGH_REPLICAS',
    'KAFKA_STORAGE_ERROR',
    'UNKNOWN_PRODUCER_ID',
    'OUT_OF_ORDER_SEQUENCE_NUMBER',
  ];

  it.each(transientTypes)('%s is transient, wrapped or not', (type) => {
    for (const [, wrap] of wrappings) expectKind(wrap(protocol(type)), 'transient', type);
  });

  it.each([
    [
      'KafkaJSConnectionError',
      new KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', {
        broker: '127.0.0.1:9092',
        code: 'ECONNREFUSED',
      }),
    ],
    [
      'KafkaJSRequestTimeoutError',
      new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', {
        broker: '127.0.0.1:9092',
        correlationId: 12,
        createdAt: 0,
        sentAt: 0,
        pendingDuration: 0,
      }),
    ],
    ['KafkaJSNoBrokerAvailableError', new KafkaJSNoBrokerAvailableError()],
    [
      'KafkaJSGroupCoordinatorNotFound',
      new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'),
    ],
    [
      'KafkaJSLockTimeout',
      new KafkaJSLockTimeout('Timeout while acquiring lock (1 waiting locks)'),
    ],
    [
      'KafkaJSTopicMetadataNotLoaded',
      new KafkaJSTopicMetadataNotLoaded('Topic metadata not loaded', { topic: 'sales.placed' }),
    ],
  ])('%s is transient, wrapped or not', (name, error) => {
    for (const [, wrap] of wrappings) expectKind(wrap(error), 'transient', name);
  });

  it('Kafka codes newer than kafkajs that mean "later" are transient', () => {
    expectKind(createErrorFromCode(89), 'transient', 'THROTTLING_QUOTA_EXCEEDED');
    expectKind(createErrorFromCode(100), 'transient', 'UNKNOWN_TOPIC_ID');
  });

  it('a retriable MembraneError and a bare Node socket error are transient', () => {
    expectKind(
      new MembraneError('registry.unavailable', 'down', { retriable: true }),
      'transient',
      'registry.unavailable',
    );
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expectKind(reset, 'transient', 'ECONNRESET');
  });

  it('every error type kafkajs marks retriable is transient unless listed as fatal or migrated', () => {
    for (const { type, retriable } of errorCodes) {
      if (!retriable || FATAL_TYPES.includes(type) || MIGRATED_TYPES.includes(type)) continue;
      expect(classifyKafkaError(protocol(type)).kind, type).toBe('transient');
    }
  });
});

describe('the lists', () => {
  it('name Kafka error types that exist, each in one list', () => {
    const known = new Set([
      ...errorCodes.map((entry) => entry.type),
      'PRODUCER_FENCED',
      'THROTTLING_QUOTA_EXCEEDED',
      'UNKNOWN_TOPIC_ID',
    ]);
    const all = [...MIGRATED_TYPES, ...FATAL_TYPES, ...TRANSIENT_TYPES];
    expect(all.filter((type) => !known.has(type))).toEqual([]);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('aggregates and odd chains', () => {
  it('an aggregate takes its most severe part', () => {
    const errors = [protocol('NOT_LEADER_FOR_PARTITION'), protocol('INVALID_PRODUCER_EPOCH')];
    expectKind(new KafkaJSAggregateError('two failures', errors), 'migrated');
    expectKind(
      new KafkaJSAggregateError('two failures', [...errors, protocol('MESSAGE_TOO_LARGE')]),
      'fatal',
      'MESSAGE_TOO_LARGE',
    );
  });

  it('a cause that points back at the error does not loop', () => {
    const error = new KafkaJSNonRetriableError('loop');
    (error as { cause?: unknown }).cause = error;
    expectKind(error, 'fatal');
  });
});

describe('the sentence membrane stops with', () => {
  const stop = (error: unknown, topics?: string[]): MembraneError =>
    fatalKafkaError(classifyKafkaError(error), error, topics);

  it('names the error type and the topics, is not retriable, and says what to do', () => {
    const error = new KafkaJSNonRetriableError(protocol('TOPIC_AUTHORIZATION_FAILED'), {
      cause: protocol('TOPIC_AUTHORIZATION_FAILED'),
    });
    const stopped = stop(error, ['sales.placed']);
    expect(stopped).toMatchObject({
      code: 'kafka.authorization',
      retriable: false,
      message: 'membrane is not authorised to use topic sales.placed (TOPIC_AUTHORIZATION_FAILED).',
      hint: expect.stringContaining('transactional IDs') as unknown,
    });
    expect(stopped.cause).toBe(error);
  });

  it('says which topic is missing', () => {
    const deleted = new KafkaJSNumberOfRetriesExceeded(protocol('UNKNOWN_TOPIC_OR_PARTITION'), {
      retryCount: 5,
      retryTime: 300,
    });
    expect(stop(deleted, ['sales.placed'])).toMatchObject({
      code: 'kafka.topic-missing',
      message:
        "Topic sales.placed does not exist (UNKNOWN_TOPIC_OR_PARTITION persisted through kafkajs's retries).",
    });
    expect(stop(deleted, ['sales.placed', 'membrane.quarantine']).message).toMatch(
      /^One of the topics sales\.placed, membrane\.quarantine does not exist/,
    );
    expect(stop(deleted).message).toMatch(/^A topic membrane writes to does not exist/);
  });

  it('prefers the topic the error names', () => {
    const invalid = new KafkaJSCreateTopicError(protocol('INVALID_TOPIC_EXCEPTION'), 'bad..name');
    expect(stop(invalid, ['other'])).toMatchObject({
      code: 'kafka.topic-invalid',
      message: expect.stringContaining('topic bad..name') as unknown,
    });
  });

  it.each([
    ['MESSAGE_TOO_LARGE', 'kafka.record-too-large'],
    ['RECORD_LIST_TOO_LARGE', 'kafka.record-too-large'],
    ['SASL_AUTHENTICATION_FAILED', 'kafka.authentication'],
    ['UNSUPPORTED_VERSION', 'kafka.unsupported'],
    ['INVALID_CONFIG', 'kafka.config-rejected'],
    ['INVALID_RECORD', 'kafka.record-refused'],
    ['INVALID_TXN_STATE', 'kafka.bug'],
    ['UNKNOWN', 'kafka.non-retriable'],
  ])('%s becomes %s, in one sentence', (type, code) => {
    const stopped = stop(protocol(type), ['sales.placed']);
    expect(stopped.code).toBe(code);
    expect(stopped.retriable).toBe(false);
    expect(stopped.message).toContain(type);
    expect(stopped.message).toMatch(/^[^\n]+\.$/);
    expect(stopped.hint).toBeTruthy();
  });

  it('gives a bug with its message, and returns membrane’s own fatal errors as they are', () => {
    expect(stop(new TypeError('x is not a function'))).toMatchObject({
      code: 'kafka.bug',
      message: 'membrane hit a bug of its own talking to Kafka (TypeError): x is not a function.',
    });
    const ours = new MembraneError('config.invalid', 'KAFKA_BROKERS is empty.');
    expect(stop(ours)).toBe(ours);
  });

  it('every fatal kafkajs error type gives one sentence', () => {
    for (const { type } of errorCodes) {
      const classified = classifyKafkaError(protocol(type));
      if (classified.kind !== 'fatal') continue;
      const stopped = fatalKafkaError(classified, protocol(type), ['t']);
      expect(stopped.message, type).toMatch(/^[^\n]+\.$/);
      expect(stopped.message, type).toContain(type);
    }
  });
});
