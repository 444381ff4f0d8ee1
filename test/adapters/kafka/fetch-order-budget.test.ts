import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodingLimits,
  limitDecoding,
  registerCodecs,
} from '../../../src/adapters/kafka/codecs.js';
import { Encoder, MiB, wireBatch, wireRecord } from '../../support/kafka-wire.js';

/**
 * Found by a review (review11c), fixed: the fetch order turned topics and partitions by the SAME count, so with
 * T topics of P partitions each only lcm(T, P) of the T×P partitions are ever asked for first.
 * With two topics of two partitions, the orders alternate between `b:1,0 a:1,0` and
 * `a:0,1 b:0,1`: a:1 and b:0 are never first. The fetch budget (decodeMessages) always decodes
 * the response's first batch and stops once the budget is spent, so while a:0 and b:1 hold a
 * backlog of batches that spend it (a producer keeps them full with a few KB of gzip/zstd per
 * fetch), a:1 and b:0 receive nothing, fetch after fetch: a stall the rotation was meant to
 * prevent. The order now turns over every partition of every topic as one list. (With several brokers the one counter is also shared by every broker's fetcher, so
 * a broker's own sequence of turns can keep one parity in the same way.)
 *
 * Driven end to end through the patched code: ConsumerGroup#fetch builds the request, a stub
 * broker answers with a real Fetch v4 response (in the order asked, as the broker does), the
 * patched v4 response decoder with membrane's codecs decodes it, and kafkajs's Batch turns
 * each partition into messages; the consumer's position moves past what was delivered.
 */
const require = createRequire(import.meta.url);
const FetchV4 = require('kafkajs/src/protocol/requests/fetch/v4/response') as {
  decode(buffer: Buffer): Promise<{ responses: unknown[] }>;
};
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup') as {
  prototype: { fetch(this: unknown, nodeId: number): Promise<FetchedBatch[]> };
};
interface FetchedBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly { readonly offset: string }[];
  isEmpty(): boolean;
  lastOffset(): string;
}
interface Asked {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly fetchOffset: string }[];
}

/** A Fetch v4 response answering `asked` in its order; `batches` gives each partition's bytes. */
function response(
  asked: Asked[],
  batches: (topic: string, partition: number, from: number) => Buffer,
): Buffer {
  const out = new Encoder().writeInt32(0).writeInt32(asked.length);
  for (const { topic, partitions } of asked) {
    out.writeString(topic).writeInt32(partitions.length);
    for (const { partition, fetchOffset } of partitions) {
      const bytes = batches(topic, partition, Number(fetchOffset));
      out
        .writeInt32(partition)
        .writeInt16(0)
        .writeInt64(1_000_000)
        .writeInt64(1_000_000)
        .writeInt32(0)
        .writeInt32(bytes.length)
        .writeBuffer(bytes);
    }
  }
  return out.buffer;
}

/** A stand-in for the consumer group's state, with positions that move past what was delivered. */
function consumer(
  assigned: Record<string, number[]>,
  batches: (topic: string, partition: number, from: number) => Buffer,
): { fetch(): Promise<{ first: string; delivered: Map<string, number> }> } {
  const topics = Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions }));
  const position = new Map<string, number>();
  let first = '';
  const self = {
    cluster: {
      refreshMetadataIfNecessary: () => Promise.resolve(),
      findBroker: () =>
        Promise.resolve({
          fetch: async ({ topics: asked }: { topics: Asked[] }) => {
            first = `${asked[0]?.topic ?? ''}:${String(asked[0]?.partitions[0]?.partition)}`;
            return FetchV4.decode(response(asked, batches));
          },
        }),
    },
    checkForStaleAssignment: () => undefined,
    subscriptionState: { assigned: () => topics, isPaused: () => false },
    seekOffset: { has: () => false },
    filterPartitionsByNode: (_node: number, list: unknown) => list,
    seekOffsets: () => Promise.resolve(),
    offsetManager: {
      committedOffsets: () =>
        Object.fromEntries(
          topics.map(({ topic, partitions }) => [
            topic,
            Object.fromEntries(partitions.map((p) => [p, '0'])),
          ]),
        ),
      nextOffset: (topic: string, partition: number) =>
        String(position.get(`${topic}:${String(partition)}`) ?? 0),
    },
    getActiveTopicPartitions: () =>
      Object.fromEntries(topics.map(({ topic, partitions }) => [topic, new Set(partitions)])),
    maxBytesPerPartition: 1 * MiB,
    preferredReadReplicasPerTopicPartition: {},
    recoverFromFetch: (e: unknown) => Promise.reject(e instanceof Error ? e : new Error(String(e))),
  };
  return {
    async fetch() {
      const fetched = await ConsumerGroup.prototype.fetch.call(self, 1);
      const delivered = new Map<string, number>();
      for (const batch of fetched) {
        const key = `${batch.topic}:${String(batch.partition)}`;
        delivered.set(key, batch.messages.length);
        if (!batch.isEmpty()) position.set(key, Number(batch.lastOffset()) + 1);
      }
      return { first, delivered };
    },
  };
}

describe("kafkajs's fetch order × the fetch budget (patched)", () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('with two topics of two partitions, every partition is first in turn: none starves behind the backlog of others', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 4 * MiB });
    // 3 MiB each: two of them spend the 4 MiB budget (neither is refused on its own).
    const bomb = gzipSync(wireRecord({ valueSize: 3 * MiB }), { level: 9 });
    const small = gzipSync(wireRecord({ valueSize: 100 }), { level: 9 });
    const backlogged = new Set(['a:0', 'b:1']);
    const group = consumer({ a: [0, 1], b: [0, 1] }, (topic, partition, from) =>
      backlogged.has(`${topic}:${String(partition)}`)
        ? Buffer.concat([wireBatch(bomb, { first: from }), wireBatch(bomb, { first: from + 1 })])
        : wireBatch(small, { first: from }),
    );

    const firsts = new Set<string>();
    const total = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const { first, delivered } = await group.fetch();
      firsts.add(first);
      for (const [key, n] of delivered) total.set(key, (total.get(key) ?? 0) + n);
    }
    // Every partition is first in turn, so every one advances, backlog or not.
    expect(firsts).toEqual(new Set(['a:0', 'a:1', 'b:0', 'b:1']));
    for (const key of ['a:0', 'a:1', 'b:0', 'b:1']) expect(total.get(key) ?? 0).toBeGreaterThan(0);
  });

  it('holds with one topic: every partition is first in turn, so none starves', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 4 * MiB });
    const bomb = gzipSync(wireRecord({ valueSize: 3 * MiB }), { level: 9 });
    const small = gzipSync(wireRecord({ valueSize: 100 }), { level: 9 });
    const group = consumer({ a: [0, 1, 2] }, (_topic, partition, from) =>
      partition === 0
        ? Buffer.concat([wireBatch(bomb, { first: from }), wireBatch(bomb, { first: from + 1 })])
        : wireBatch(small, { first: from }),
    );
    const total = new Map<string, number>();
    for (let i = 0; i < 6; i++) {
      const { delivered } = await group.fetch();
      for (const [key, n] of delivered) total.set(key, (total.get(key) ?? 0) + n);
    }
    expect(total.get('a:1')).toBeGreaterThan(0);
    expect(total.get('a:2')).toBeGreaterThan(0);
  });
});
