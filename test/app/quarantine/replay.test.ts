import kafkajs, { type Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  isFenced,
  replay,
  ReplayTakenOver,
  resolvedMeanwhile,
  type ReplayOutcome,
} from '../../../src/app/quarantine/replay.js';
import { resolutionKey, type QuarantinedRecord } from '../../../src/app/quarantine/store.js';
import { isMembraneError } from '../../../src/core/errors.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';

// kafkajs is CommonJS: its error classes are reached through the default export.
const { KafkaJSProtocolError, KafkaJSNumberOfRetriesExceeded, KafkaJSAggregateError } = kafkajs;

const QUARANTINE = 'quarantine';

function protocolError(type: string, message: string): Error {
  return new KafkaJSProtocolError(
    Object.assign(new Error(message), { type, code: 47, retriable: false }),
  );
}

const oldEpoch = (): Error =>
  protocolError(
    'INVALID_PRODUCER_EPOCH',
    'Producer attempted an operation with an old epoch. Either there is a newer producer with the same transactionalId, or the producer’s transaction has been expired by the broker',
  );

function quarantined(n: number, resolution?: QuarantinedRecord['resolution']): QuarantinedRecord {
  return {
    ref: `0:${n}`,
    partition: 0,
    offset: String(n),
    entry: {
      source: { topic: 'erp.orders', partition: 0, offset: String(n), timestamp: '1763800000000' },
      mapping: 'orders@1',
      stage: 'map',
      issues: [{ code: 'map.missing-field', path: 'total', message: 'missing' }],
      id: undefined,
      quarantinedAt: '2026-11-22T08:00:00.000Z',
      attempt: 1,
    },
    upstream: {
      key: null,
      value: Buffer.from(JSON.stringify({ event_id: `e-${n}`, order_id: `o-${n}`, total: '1.00' })),
      headers: {},
    },
    resolution,
  };
}

/**
 * A Kafka client that records what the replay does with it, in order. No topic exists (so
 * there are no resolutions to read); the `fail`th batch sent throws what `error` makes.
 */
function recordingKafka(fail?: {
  readonly batch: number;
  readonly error: () => Error;
  /** What the abort after the failure throws, if anything. */
  readonly abortError?: () => Error;
}): {
  kafka: Kafka;
  log: string[];
} {
  const log: string[] = [];
  let batches = 0;
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => {
      log.push('list topics');
      return Promise.resolve([]);
    },
    // A topic asked for by name: it does not exist, as Kafka answers (not a refusal).
    fetchTopicMetadata: () =>
      Promise.reject(
        Object.assign(new Error('This server does not host this topic-partition'), {
          type: 'UNKNOWN_TOPIC_OR_PARTITION',
        }),
      ),
  };
  const producer = {
    connect: () => {
      log.push('connect');
      return Promise.resolve();
    },
    disconnect: () => {
      log.push('disconnect');
      return Promise.resolve();
    },
    transaction: () => {
      log.push('begin');
      return Promise.resolve({
        sendBatch: ({ topicMessages }: { topicMessages: { messages: unknown[] }[] }) => {
          batches += 1;
          if (fail?.batch === batches) {
            log.push('send fails');
            return Promise.reject(fail.error());
          }
          log.push(`send ${topicMessages.reduce((n, t) => n + t.messages.length, 0)}`);
          return Promise.resolve();
        },
        commit: () => {
          log.push('commit');
          return Promise.resolve();
        },
        abort: () => {
          log.push('abort');
          const abortError = batches > 0 ? fail?.abortError : undefined;
          return abortError ? Promise.reject(abortError()) : Promise.resolve();
        },
      });
    },
  };
  const kafka = { admin: () => admin, producer: () => producer } as unknown as Kafka;
  return { kafka, log };
}

async function replayFour(kafka: Kafka, progress: ReplayOutcome[] = []): Promise<ReplayOutcome[]> {
  return replay({
    kafka,
    quarantineTopic: QUARANTINE,
    pipelines: new Map([['orders', await compileText(BASE_MAPPING)]]),
    records: [1, 2, 3, 4].map((n) => quarantined(n)),
    dryRun: false,
    chunk: 2,
    onProgress: (_done, outcome) => progress.push(outcome),
  });
}

describe('isFenced', () => {
  it('knows both fencing errors, bare or wrapped by kafkajs retries, causes and aggregates', () => {
    expect(isFenced(oldEpoch())).toBe(true);
    expect(isFenced(protocolError('PRODUCER_FENCED', 'fenced'))).toBe(true);
    expect(
      isFenced(new KafkaJSNumberOfRetriesExceeded(oldEpoch(), { retryCount: 5, retryTime: 100 })),
    ).toBe(true);
    expect(isFenced(new Error('outer', { cause: { cause: oldEpoch() } }))).toBe(true);
    expect(isFenced(new KafkaJSAggregateError('several', [new Error('other'), oldEpoch()]))).toBe(
      true,
    );
  });

  it('is false for other errors and non-errors', () => {
    expect(isFenced(protocolError('NOT_LEADER_FOR_PARTITION', 'moved'))).toBe(false);
    expect(isFenced(new Error('plain'))).toBe(false);
    expect(isFenced(undefined)).toBe(false);
    expect(isFenced('INVALID_PRODUCER_EPOCH')).toBe(false);
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    expect(isFenced(loop)).toBe(false);
  });
});

describe('resolvedMeanwhile', () => {
  const marker = { status: 'resolved', by: 'replay', at: '2026-11-22T09:00:00.000Z' } as const;
  const key = resolutionKey(QUARANTINE, '0:1');

  it('is the marker a record got after it was selected', () => {
    expect(resolvedMeanwhile(quarantined(1), new Map([[key, marker]]), QUARANTINE)).toEqual(marker);
  });

  it('is undefined for a record as it was selected', () => {
    expect(resolvedMeanwhile(quarantined(1), new Map(), QUARANTINE)).toBeUndefined();
    expect(resolvedMeanwhile(quarantined(2), new Map([[key, marker]]), QUARANTINE)).toBeUndefined();
    expect(
      resolvedMeanwhile(quarantined(1, marker), new Map([[key, { ...marker }]]), QUARANTINE),
    ).toBeUndefined();
  });

  it('is the new marker when a resolved record was resolved again', () => {
    const again = { ...marker, at: '2026-11-22T10:00:00.000Z' };
    expect(resolvedMeanwhile(quarantined(1, marker), new Map([[key, again]]), QUARANTINE)).toEqual(
      again,
    );
  });
});

describe('replay against another replay of the same quarantine', () => {
  it('initialises its transactional ID before it reads what is resolved, and before it writes', async () => {
    const { kafka, log } = recordingKafka();
    const outcomes = await replayFour(kafka);
    expect(outcomes.map((o) => o.kind)).toEqual(['replayed', 'replayed', 'replayed', 'replayed']);
    expect(log).toEqual([
      'list topics', // output topics' size limits
      'connect',
      'begin', // the empty transaction: InitProducerId, fencing any other replay
      'abort',
      'list topics', // the resolutions, read only now
      'begin',
      'send 4', // two outputs, two resolution markers
      'commit',
      'begin',
      'send 4',
      'commit',
      'disconnect',
    ]);
  });

  it('fenced, aborts, writes nothing more and says in one sentence how far it got', async () => {
    const { kafka, log } = recordingKafka({
      batch: 2,
      error: () => new KafkaJSNumberOfRetriesExceeded(oldEpoch(), { retryCount: 0, retryTime: 0 }),
    });
    const progress: ReplayOutcome[] = [];
    const failure = await replayFour(kafka, progress).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ReplayTakenOver);
    expect(isMembraneError(failure) && failure.code).toBe('quarantine.replay-taken-over');
    expect(isMembraneError(failure) && failure.hint).toBeUndefined();
    expect((failure as Error).message).toBe(
      'Another `membrane quarantine replay` of quarantine took over, so this one stopped after 2 of the 4 records it selected; nothing was written twice, and running it again replays whatever is still unresolved.',
    );
    expect(log.slice(log.indexOf('send fails'))).toEqual(['send fails', 'abort', 'disconnect']);
    // Only what was committed is reported done.
    expect(progress.map((o) => o.ref)).toEqual(['0:1', '0:2']);
  });

  it('any other failure to write is a known, retriable error, not a bug', async () => {
    const { kafka, log } = recordingKafka({
      batch: 1,
      error: () => protocolError('REQUEST_TIMED_OUT', 'The request timed out'),
    });
    const failure = await replayFour(kafka).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).not.toBeInstanceOf(ReplayTakenOver);
    expect(isMembraneError(failure) && failure.code).toBe('quarantine.replay-failed');
    expect(isMembraneError(failure) && failure.retriable).toBe(true);
    expect(log.slice(log.indexOf('send fails'))).toEqual(['send fails', 'abort', 'disconnect']);
  });

  it('taken over when the write fails with another error but the abort is refused as fenced', async () => {
    const { kafka, log } = recordingKafka({
      batch: 2,
      error: () =>
        protocolError('UNKNOWN_SERVER_ERROR', 'The server experienced an unexpected error'),
      abortError: oldEpoch,
    });
    const failure = await replayFour(kafka).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(ReplayTakenOver);
    expect((failure as Error).message).toMatch(/stopped after 2 of the 4 records/);
    expect(log.slice(log.indexOf('send fails'))).toEqual(['send fails', 'abort', 'disconnect']);
  });
});

describe('replay of a refused batch', () => {
  it('skips it, whatever its bytes: its value is a whole batch, never one record to translate', async () => {
    const { kafka, log } = recordingKafka();
    const batch = quarantined(2);
    // Even a value the mapping would translate: it is not a record the producer sent.
    const refused: QuarantinedRecord = {
      ...batch,
      entry: {
        ...batch.entry,
        stage: 'trust',
        issues: [
          {
            code: 'trust.batch-refused',
            path: '',
            message: 'the gzip batch at offsets 0–2 could not be decoded into records',
          },
        ],
      },
    };
    const outcomes = await replay({
      kafka,
      quarantineTopic: QUARANTINE,
      pipelines: new Map([['orders', await compileText(BASE_MAPPING)]]),
      records: [quarantined(1), refused],
      dryRun: false,
      chunk: 2,
    });
    expect(outcomes.map((o) => o.kind)).toEqual(['replayed', 'skipped']);
    expect(outcomes[1]).toMatchObject({
      reason: expect.stringMatching(/^a batch that could not be decoded/) as unknown,
    });
    expect(log).toContain('send 2'); // the first record's output and its resolution marker
  });
});

describe('replay, as a task would have translated the records', () => {
  it('emits an event ID once: a later record with an ID it emitted is dropped as a duplicate', async () => {
    const { kafka } = recordingKafka();
    const first = quarantined(1);
    // A redelivery of event e-1, quarantined on its own.
    const again = { ...quarantined(2), upstream: first.upstream };
    const outcomes = await replay({
      kafka,
      quarantineTopic: QUARANTINE,
      pipelines: new Map([['orders', await compileText(BASE_MAPPING)]]),
      records: [first, again],
      dryRun: true,
    });
    expect(outcomes.map((o) => [o.ref, o.kind])).toEqual([
      ['0:1', 'replayed'],
      ['0:2', 'dropped'],
    ]);
    expect(outcomes[1]).toMatchObject({ reason: 'duplicate' });
  });

  it('replays records quarantined at the same time in their upstream order, not the quarantine partitions’', async () => {
    const { kafka } = recordingKafka();
    // One chunk's records (same time), spread over quarantine partitions by their keys.
    const at = (n: number, partition: number, offset: number): QuarantinedRecord => ({
      ...quarantined(n),
      ref: `${partition}:${offset}`,
      partition,
      offset: String(offset),
    });
    const outcomes = await replay({
      kafka,
      quarantineTopic: QUARANTINE,
      pipelines: new Map([['orders', await compileText(BASE_MAPPING)]]),
      records: [at(9, 0, 1), at(10, 0, 2), at(2, 1, 1), at(11, 2, 1)],
      dryRun: true,
    });
    expect(outcomes.map((o) => o.ref)).toEqual(['1:1', '0:1', '0:2', '2:1']);
  });
});
