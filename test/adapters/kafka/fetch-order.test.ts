import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * A fetch response is decoded in request order within a budget of decompressed bytes (see
 * fetch-budget.test.ts): kafkajs asked for partitions in a fixed order, so those late in it
 * would wait for as long as earlier ones had a backlog. The patched ConsumerGroup#fetch turns
 * the order of topics and partitions with every fetch. Driven here with a stand-in for the
 * consumer group's state: what matters is the `topics` each fetch asks the broker for.
 */
const require = createRequire(import.meta.url);
const ConsumerGroup = require('kafkajs/src/consumer/consumerGroup') as {
  prototype: { fetch(this: unknown, nodeId: number): Promise<unknown> };
};

interface Asked {
  readonly topic: string;
  readonly partitions: readonly { readonly partition: number; readonly fetchOffset: string }[];
}

function group(assigned: Record<string, number[]>): { fetch(): Promise<Asked[]> } {
  const asked: Asked[][] = [];
  const topics = Object.entries(assigned).map(([topic, partitions]) => ({ topic, partitions }));
  const self = {
    cluster: {
      refreshMetadataIfNecessary: () => Promise.resolve(),
      findBroker: () =>
        Promise.resolve({
          fetch: ({ topics: requested }: { topics: Asked[] }) => {
            asked.push(requested);
            return Promise.resolve({ responses: [] });
          },
        }),
    },
    checkForStaleAssignment: () => undefined,
    subscriptionState: { assigned: () => topics },
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
      nextOffset: (_topic: string, partition: number) => String(partition * 100),
    },
    getActiveTopicPartitions: () =>
      Object.fromEntries(topics.map(({ topic, partitions }) => [topic, new Set(partitions)])),
    maxBytesPerPartition: 1024,
    preferredReadReplicasPerTopicPartition: {},
  };
  return {
    async fetch() {
      await ConsumerGroup.prototype.fetch.call(self, 1);
      const last = asked.at(-1);
      if (last === undefined) throw new Error('no fetch sent');
      return last;
    },
  };
}

const order = (asked: Asked[]): string =>
  asked.map((t) => `${t.topic}:${t.partitions.map((p) => p.partition).join(',')}`).join(' ');

describe("kafkajs's fetch order (patched)", () => {
  it('turns with every fetch, so each partition of a topic is asked for first in turn', async () => {
    const consumer = group({ a: [0, 1, 2] });
    const firsts: number[] = [];
    for (let i = 0; i < 6; i++)
      firsts.push((await consumer.fetch())[0]?.partitions[0]?.partition ?? -1);
    expect(firsts.slice(0, 3).sort()).toEqual([0, 1, 2]);
    expect(firsts.slice(3)).toEqual(firsts.slice(0, 3));
  });

  it('turns over every partition of every topic, each keeping its own fetch offset', async () => {
    const consumer = group({ a: [0, 1], b: [0, 1] });
    const firsts: string[] = [];
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const asked = await consumer.fetch();
      seen.push(order(asked));
      firsts.push(`${asked[0]?.topic ?? ''}:${String(asked[0]?.partitions[0]?.partition)}`);
      for (const t of asked) {
        expect(t.partitions.map((p) => p.partition).sort()).toEqual([0, 1]);
        for (const p of t.partitions) expect(p.fetchOffset).toBe(String(p.partition * 100));
      }
      expect(asked.map((t) => t.topic).sort()).toEqual(['a', 'b']);
    }
    // Each of the four partitions is asked for first once in four fetches (turning topics
    // and partitions by the same count left a:1 and b:0 never first — review11c).
    expect(firsts.sort()).toEqual(['a:0', 'a:1', 'b:0', 'b:1']);
    expect(seen).toEqual(['a:1,0 b:0,1', 'b:0,1 a:0,1', 'b:1,0 a:0,1', 'a:0,1 b:0,1']);
  });
});
