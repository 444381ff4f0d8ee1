import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { decodingLimits, limitDecoding } from '../../../src/adapters/kafka/codecs.js';
import type { QuarantineMessage } from '../../../src/adapters/quarantine/codec.js';
import type { QuarantinedRecord } from '../../../src/app/quarantine/store.js';
import { unpack } from '../../../src/app/quarantine/unpack.js';
import { storedBatch, type StoredRecord } from '../../support/stored-batch.js';

/**
 * `quarantine unpack` writes a batch's records whole or leaves the batch unresolved (found by
 * a review: an upstream header with one of membrane's names taken for a cut, and headers past
 * the decoder's limit dropped while the batch was resolved).
 */
const GZIP = 1;
const FIRST = 100;
const T0 = 1_700_000_000_000;

async function refused(records: readonly StoredRecord[]): Promise<QuarantinedRecord> {
  const last = String(FIRST + records.length - 1);
  return {
    ref: '0:7',
    partition: 0,
    offset: '7',
    entry: {
      source: { topic: 'erp.orders', partition: 0, offset: last, timestamp: String(T0) },
      mapping: 'legacy-orders@3',
      stage: 'trust',
      issues: [{ code: 'trust.batch-refused', path: '', message: 'the gzip batch …' }],
      id: undefined,
      quarantinedAt: '2026-11-30T10:00:00.000Z',
      attempt: 1,
      batch: { firstOffset: String(FIRST), lastOffset: last },
    },
    upstream: {
      key: null,
      value: await storedBatch(records, { first: FIRST, timestamp: T0, compression: GZIP }),
      headers: {},
    },
    resolution: undefined,
  };
}

/** An admin and transactional producer that record what would be committed. */
function fakeKafka(): {
  kafka: Kafka;
  committed: { topic: string; messages: QuarantineMessage[] }[];
} {
  const committed: { topic: string; messages: QuarantineMessage[] }[] = [];
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    listTopics: () => Promise.resolve([]),
  };
  const producer = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    transaction: () => {
      const mine: { topic: string; messages: QuarantineMessage[] }[] = [];
      return Promise.resolve({
        sendBatch: ({
          topicMessages,
        }: {
          topicMessages: { topic: string; messages: QuarantineMessage[] }[];
        }) => (mine.push(...topicMessages), Promise.resolve()),
        commit: () => (committed.push(...mine), Promise.resolve()),
        abort: () => Promise.resolve(),
      });
    },
  };
  // loadResolutions reads the resolutions topic: none exists here, so none is settled.
  const kafka = {
    admin: () => ({
      ...admin,
      fetchTopicOffsets: () => Promise.resolve([]),
      fetchTopicMetadata: () =>
        Promise.reject(
          Object.assign(new Error('no topic'), { type: 'UNKNOWN_TOPIC_OR_PARTITION' }),
        ),
    }),
    producer: () => producer,
  } as unknown as Kafka;
  return { kafka, committed };
}

describe('unpack, whole or not at all', () => {
  it('unpacks a record whose upstream headers include one named membrane.quarantine.truncated', async () => {
    // An upstream header with one of membrane's names is kept (codec.ts: "a record that already
    // went through a membrane"); it says nothing about this record being cut.
    const record = await refused([
      { key: Buffer.from('o-1'), value: Buffer.from('{"a":1}'), headers: {} },
      {
        key: Buffer.from('o-2'),
        value: Buffer.from('{"a":2}'),
        headers: { 'membrane.quarantine.truncated': Buffer.from('') },
      },
    ]);
    const { kafka } = fakeKafka();
    const [outcome] = await unpack({
      kafka,
      quarantineTopic: 'q',
      records: [record],
      dryRun: true,
    });
    expect(outcome).toEqual({ ref: '0:7', kind: 'unpacked', records: 2, from: '100', to: '101' });
  });

  it('leaves a batch unresolved while one of its records has more headers than decoding keeps', async () => {
    // The decoder keeps maxHeaders + 1 headers of a record and skips the rest unread: written
    // so, the record would not be as its producer sent it, and the batch would be resolved.
    const before = decodingLimits();
    try {
      limitDecoding({ maxHeaders: 65_536 });
      const headers: Record<string, Buffer> = {};
      for (let i = 0; i < 70_000; i += 1) headers[`h${i}`] = Buffer.alloc(0);
      const record = await refused([
        { key: Buffer.from('o-1'), value: Buffer.from('{"a":1}'), headers },
      ]);
      const refusedRun = fakeKafka();
      expect(
        await unpack({
          kafka: refusedRun.kafka,
          quarantineTopic: 'q',
          records: [record],
          dryRun: false,
        }),
      ).toEqual([
        {
          ref: '0:7',
          kind: 'skipped',
          reason:
            'its record at offset 100 has more than 65536 headers, the most decoding keeps (--max-headers, MEMBRANE_MAX_HEADERS): raise that, then unpack it again',
        },
      ]);
      expect(refusedRun.committed).toEqual([]);

      // Raised, every header is kept.
      limitDecoding({ maxHeaders: 70_000 });
      const { kafka, committed } = fakeKafka();
      const [outcome] = await unpack({
        kafka,
        quarantineTopic: 'q',
        records: [record],
        dryRun: false,
      });
      expect(outcome?.kind).toBe('unpacked');
      const written = committed.find((t) => t.topic === 'q')?.messages[0];
      expect(Object.keys(written?.headers ?? {}).filter((n) => n.startsWith('h'))).toHaveLength(
        70_000,
      );
    } finally {
      limitDecoding(before);
    }
  });
});
