import kafkajs, { type Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decodeStoredBatch } from '../../../src/adapters/kafka/record-batch.js';
import {
  decodeQuarantine,
  type QuarantineMessage,
} from '../../../src/adapters/quarantine/codec.js';
import type { QuarantinedRecord } from '../../../src/app/quarantine/store.js';
import { unpack, unpackedEntries, type UnpackOutcome } from '../../../src/app/quarantine/unpack.js';
import { isMembraneError } from '../../../src/core/errors.js';
import { storedBatch } from '../../support/stored-batch.js';

const { KafkaJSProtocolError } = kafkajs;
const GZIP = 1;
const FIRST = 100;
const COUNT = 6;
const T0 = 1_700_000_000_000;

const sent = Array.from({ length: COUNT }, (_, n) => ({
  key: Buffer.from(`o-${n}`),
  value: Buffer.from(`{"order_id":"o-${n}"}`),
  headers: { 'x-source-system': Buffer.from('erp'), 'x-seq': Buffer.from(String(n)) },
}));

/** A trust.batch-refused quarantine record of the batch of offsets FIRST… (`from` on unprocessed). */
async function refusedBatch(
  ref: string,
  options: { from?: string; truncated?: boolean; batchHeader?: boolean; value?: Buffer } = {},
): Promise<QuarantinedRecord> {
  const last = String(FIRST + COUNT - 1);
  return {
    ref,
    partition: 0,
    offset: ref.split(':')[1] ?? '0',
    entry: {
      source: { topic: 'erp.orders', partition: 3, offset: last, timestamp: String(T0) },
      mapping: 'legacy-orders@3',
      stage: 'trust',
      issues: [{ code: 'trust.batch-refused', path: '', message: 'the gzip batch …' }],
      id: undefined,
      quarantinedAt: '2026-11-30T10:00:00.000Z',
      attempt: 1,
      ...(options.truncated
        ? { truncated: { value: { bytes: 9, kept: 1, sha256: 'a'.repeat(64) } } }
        : {}),
      ...(options.batchHeader === false
        ? {}
        : {
            batch: {
              firstOffset: String(FIRST),
              lastOffset: last,
              ...(options.from === undefined ? {} : { from: options.from }),
            },
          }),
    },
    upstream: {
      key: null,
      value:
        options.value ??
        (await storedBatch(sent, { first: FIRST, timestamp: T0, compression: GZIP })),
      headers: {},
    },
    resolution: undefined,
  };
}

/** A Kafka client recording each transaction's messages; no topic exists. */
function recordingKafka(
  failWith?: () => Error,
  /** The quarantine topic `q` exists and takes at most this many bytes a record. */
  maxMessageBytes?: number,
): {
  kafka: Kafka;
  log: string[];
  sent: { topic: string; messages: QuarantineMessage[] }[][];
} {
  const log: string[] = [];
  const transactions: { topic: string; messages: QuarantineMessage[] }[][] = [];
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve(maxMessageBytes === undefined ? [] : ['q']),
    describeConfigs: () =>
      Promise.resolve({
        resources: [
          {
            resourceName: 'q',
            configEntries: [
              { configName: 'max.message.bytes', configValue: String(maxMessageBytes) },
            ],
          },
        ],
      }),
    fetchTopicMetadata: () =>
      Promise.reject(
        Object.assign(new Error('This server does not host this topic-partition'), {
          type: 'UNKNOWN_TOPIC_OR_PARTITION',
        }),
      ),
  };
  const producer = {
    connect: () => (log.push('connect'), Promise.resolve()),
    disconnect: () => (log.push('disconnect'), Promise.resolve()),
    transaction: () => {
      log.push('begin');
      const mine: { topic: string; messages: QuarantineMessage[] }[] = [];
      return Promise.resolve({
        sendBatch: ({
          topicMessages,
        }: {
          topicMessages: { topic: string; messages: QuarantineMessage[] }[];
        }) => {
          if (failWith && transactions.length > 0) return Promise.reject(failWith());
          mine.push(...topicMessages);
          log.push(`send ${topicMessages.reduce((n, t) => n + t.messages.length, 0)}`);
          return Promise.resolve();
        },
        commit: () => {
          log.push('commit');
          transactions.push(mine);
          return Promise.resolve();
        },
        abort: () => (log.push('abort'), Promise.resolve()),
      });
    },
  };
  const kafka = { admin: () => admin, producer: () => producer } as unknown as Kafka;
  return { kafka, log, sent: transactions };
}

describe('the records a refused batch is unpacked into', () => {
  it('are its records as sent, at their own offsets and times, with the mapping that refused it', async () => {
    const record = await refusedBatch('0:7');
    const decoded = await decodeStoredBatch(record.upstream.value ?? Buffer.alloc(0));
    if (decoded.kind !== 'records') throw new Error(decoded.reason);
    const entries = unpackedEntries(record, decoded.records, '2026-11-30T11:00:00.000Z');
    expect(entries.map((e) => e.entry.source)).toEqual(
      sent.map((_, n) => ({
        topic: 'erp.orders',
        partition: 3,
        offset: String(FIRST + n),
        timestamp: String(T0 + n),
      })),
    );
    expect(entries.map((e) => e.upstream.value?.toString())).toEqual(
      sent.map((s) => s.value.toString()),
    );
    expect(entries.map((e) => e.upstream.key?.toString())).toEqual(
      sent.map((s) => s.key.toString()),
    );
    expect(entries.map((e) => String(e.upstream.headers['x-seq']))).toEqual(
      sent.map((_, n) => String(n)),
    );
    for (const { entry } of entries) {
      expect(entry).toMatchObject({
        mapping: 'legacy-orders@3',
        stage: 'trust',
        id: undefined,
        attempt: 1,
        quarantinedAt: '2026-11-30T11:00:00.000Z',
      });
      expect(entry.issues).toEqual([
        {
          code: 'trust.batch-unpacked',
          path: '',
          message: `unpacked from the batch at offsets ${FIRST}–${FIRST + COUNT - 1} (quarantine record 0:7, trust.batch-refused); not run through the mapping yet: replay it`,
        },
      ]);
    }
  });

  it('leave out the records processed before it was refused', async () => {
    const record = await refusedBatch('0:7', { from: String(FIRST + 4) });
    const decoded = await decodeStoredBatch(record.upstream.value ?? Buffer.alloc(0));
    if (decoded.kind !== 'records') throw new Error(decoded.reason);
    expect(
      unpackedEntries(record, decoded.records, 'now').map((e) => e.entry.source.offset),
    ).toEqual([String(FIRST + 4), String(FIRST + 5)]);
  });
});

describe('unpack', () => {
  it('writes each batch whole in one transaction: its records as quarantine records, then its marker', async () => {
    const { kafka, log, sent: transactions } = recordingKafka();
    const progress: UnpackOutcome[] = [];
    const outcomes = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [await refusedBatch('0:7'), await refusedBatch('1:9', { from: String(FIRST + 3) })],
      dryRun: false,
      now: () => new Date('2026-11-30T11:00:00.000Z'),
      onProgress: (_, o) => progress.push(o),
    });
    expect(outcomes).toEqual([
      { ref: '0:7', kind: 'unpacked', records: 6, from: '100', to: '105' },
      { ref: '1:9', kind: 'unpacked', records: 3, from: '103', to: '105' },
    ]);
    expect(progress).toEqual(outcomes);
    expect(log).toEqual([
      'connect',
      'begin', // initialise: fences any other replay or unpack of this quarantine
      'abort',
      'begin',
      'send 7',
      'commit',
      'begin',
      'send 4',
      'commit',
      'disconnect',
    ]);
    const [first] = transactions;
    expect(first?.map((t) => [t.topic, t.messages.length])).toEqual([
      ['q', 6],
      ['q.resolutions', 1],
    ]);
    const read = first?.[0]?.messages.map((m) => decodeQuarantine(m));
    expect(read?.map((r) => [r.entry.source.offset, r.entry.issues[0]?.code])).toEqual(
      sent.map((_, n) => [String(FIRST + n), 'trust.batch-unpacked']),
    );
    expect(read?.[0]?.upstream.key?.toString()).toBe('o-0');
    const marker = first?.[1]?.messages[0];
    expect(marker?.key?.toString()).toBe('q/0:7');
    expect(JSON.parse(String(marker?.value))).toEqual({
      status: 'superseded',
      by: 'unpack',
      at: '2026-11-30T11:00:00.000Z',
      reason: 'unpacked into 6 quarantine record(s), offsets 100–105, trust.batch-unpacked',
    });
  });

  it('leaves alone, saying why, what is not a whole refused batch it can read', async () => {
    const { kafka, log } = recordingKafka();
    const notABatch = await refusedBatch('0:1');
    const outcomes = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [
        {
          ...notABatch,
          entry: {
            ...notABatch.entry,
            issues: [{ code: 'map.missing-field', path: 'total', message: 'missing' }],
          },
        },
        await refusedBatch('0:2', { truncated: true }),
        await refusedBatch('0:3', { batchHeader: false }),
        await refusedBatch('0:4', { value: Buffer.from('not a batch') }),
      ],
      dryRun: false,
    });
    expect(outcomes.map((o) => [o.ref, o.kind])).toEqual([
      ['0:1', 'skipped'],
      ['0:2', 'skipped'],
      ['0:3', 'skipped'],
      ['0:4', 'undecodable'],
    ]);
    expect(outcomes.map((o) => ('reason' in o ? o.reason : ''))).toEqual([
      'not a refused batch (map.missing-field)',
      'quarantined truncated (too large for the quarantine topic): the batch is not whole',
      'it has no membrane.quarantine.batch header (written by an older membrane): which of its records were processed is not recorded',
      expect.any(String),
    ]);
    expect(log).not.toContain('commit');
  });

  it('leaves a batch unresolved when one of its records would not fit the quarantine topic whole', async () => {
    // Cut to fit, that record could not be replayed, and the batch, its only whole copy,
    // would be resolved.
    const big = { key: Buffer.from('o-big'), value: Buffer.alloc(30_000, 0x61), headers: {} };
    const value = await storedBatch([sent[0] ?? big, big, sent[2] ?? big], {
      first: FIRST,
      timestamp: T0,
      compression: GZIP,
    });
    const record = await refusedBatch('0:7', { value });
    const batch = { firstOffset: String(FIRST), lastOffset: String(FIRST + 2) };
    const three = {
      ...record,
      entry: {
        ...record.entry,
        batch,
        source: { ...record.entry.source, offset: batch.lastOffset },
      },
    };
    for (const dryRun of [true, false]) {
      const { kafka, log } = recordingKafka(undefined, 20_000);
      const [outcome] = await unpack({ kafka, quarantineTopic: 'q', records: [three], dryRun });
      expect(outcome).toEqual({
        ref: '0:7',
        kind: 'skipped',
        reason: expect.stringMatching(
          /^its record at offset 101 takes \d+ bytes as a quarantine record, more than the quarantine topic takes \(max\.message\.bytes 20000\): raise that, then unpack it again$/,
        ) as unknown,
      });
      expect(log).not.toContain('commit');
    }
    // With room enough, it is unpacked.
    const { kafka } = recordingKafka(undefined, 40_000);
    expect(await unpack({ kafka, quarantineTopic: 'q', records: [three], dryRun: false })).toEqual([
      { ref: '0:7', kind: 'unpacked', records: 3, from: '100', to: '102' },
    ]);
  });

  it('leaves a batch alone whose batch header does not describe the batch it holds', async () => {
    // The quarantine topic is writable by others: a forged header would make records vanish.
    const record = await refusedBatch('0:7');
    const forged = (
      batch: { firstOffset: string; lastOffset: string },
      offset = batch.lastOffset,
    ) => ({
      ...record,
      entry: { ...record.entry, batch, source: { ...record.entry.source, offset } },
    });
    const { kafka, log } = recordingKafka();
    const outcomes = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [
        forged({ firstOffset: '0', lastOffset: '5' }),
        forged({ firstOffset: '100', lastOffset: '104' }),
        forged({ firstOffset: '100', lastOffset: '105' }, '104'),
      ],
      dryRun: false,
    });
    expect(outcomes.map((o) => ('reason' in o ? o.reason : o.kind))).toEqual([
      'its membrane.quarantine.batch header (0–5, source offset 5) does not describe the batch it holds (offsets 100–105)',
      'its membrane.quarantine.batch header (100–104, source offset 104) does not describe the batch it holds (offsets 100–105)',
      'its membrane.quarantine.batch header (100–105, source offset 104) does not describe the batch it holds (offsets 100–105)',
    ]);
    expect(log).not.toContain('commit');
  });

  it('writes nothing on a dry run, and says what it would do', async () => {
    const { kafka, log } = recordingKafka();
    const outcomes = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [await refusedBatch('0:7')],
      dryRun: true,
    });
    expect(outcomes).toEqual([
      { ref: '0:7', kind: 'unpacked', records: 6, from: '100', to: '105' },
    ]);
    expect(log).toEqual([]);
  });

  it('stops with one sentence when another replay or unpack fenced it; what it committed stays', async () => {
    const fenced = (): Error =>
      new KafkaJSProtocolError(
        Object.assign(new Error('fenced'), { type: 'PRODUCER_FENCED', code: 90, retriable: false }),
      );
    const { kafka, log } = recordingKafka(fenced);
    const error: unknown = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [await refusedBatch('0:7'), await refusedBatch('0:8')],
      dryRun: false,
    }).catch((e: unknown) => e);
    expect(isMembraneError(error) && error.code).toBe('quarantine.replay-taken-over');
    expect((error as Error).message).toMatch(/stopped after 1 of the 2 records it selected/);
    expect(log.filter((l) => l === 'commit')).toHaveLength(1);
    expect(log.at(-2)).toBe('abort');
  });
});
