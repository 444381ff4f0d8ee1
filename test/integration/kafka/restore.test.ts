import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin, Kafka, KafkaMessage, Message } from 'kafkajs';
import {
  RestoreError,
  restorePartitions,
  type RestoreProgress,
} from '../../../src/adapters/kafka/restore.js';
import { ensureTopics } from '../../../src/adapters/kafka/topics.js';
import { isMembraneError } from '../../../src/core/errors.js';
import { testKafka, uniqueName } from '../../support/kafka.js';

interface Applied {
  readonly partition: number;
  readonly offset: string;
  readonly key: string;
  readonly value: string | null;
}

function collector(): {
  applied: Applied[];
  apply: (partition: number, m: KafkaMessage) => void;
} {
  const applied: Applied[] = [];
  return {
    applied,
    apply: (partition, m) => {
      applied.push({
        partition,
        offset: m.offset,
        key: m.key?.toString() ?? '',
        value: m.value === null ? null : m.value.toString(),
      });
    },
  };
}

/** A Kafka client whose consumers report the partitions they were handed batches of. */
function watchedKafka(kafka: Kafka): { kafka: Kafka; fetched: Set<number> } {
  const fetched = new Set<number>();
  const watched = new Proxy(kafka, {
    get(target, property, receiver) {
      if (property === 'consumer') {
        return (...args: Parameters<Kafka['consumer']>) => {
          const consumer = target.consumer(...args);
          consumer.on(consumer.events.START_BATCH_PROCESS, ({ payload }) => {
            fetched.add(payload.partition);
          });
          return consumer;
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { kafka: watched, fetched };
}

async function groupsStartingWith(admin: Admin, prefix: string): Promise<string[]> {
  const { groups } = await admin.listGroups();
  return groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix));
}

function records(prefix: string, count: number, partition: number): Message[] {
  return Array.from({ length: count }, (_, n) => ({
    key: `${prefix}-${n}`,
    value: `v-${n}`,
    partition,
  }));
}

describe('restorePartitions against the real broker', () => {
  const kafka = testKafka('membrane-test-restore');
  const topics: string[] = [];
  let admin: Admin;

  /** A compacted changelog-like topic. */
  async function changelog(numPartitions: number): Promise<string> {
    const topic = uniqueName('restore');
    topics.push(topic);
    await ensureTopics(admin, [
      { topic, numPartitions, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
    return topic;
  }

  async function transactional(id: string): Promise<ReturnType<Kafka['producer']>> {
    const producer = kafka.producer({
      transactionalId: uniqueName(id),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    return producer;
  }

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });

  afterAll(async () => {
    if (topics.length > 0) await admin.deleteTopics({ topics });
    await admin.disconnect();
  });

  it('fetches and applies only the wanted partition, though the others have records too', async () => {
    const topic = await changelog(3);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic,
      messages: [...records('p0', 50, 0), ...records('p1', 40, 1), ...records('p2', 60, 2)],
    });
    await producer.disconnect();

    const { kafka: spied, fetched } = watchedKafka(kafka);
    const { applied, apply } = collector();
    const prefix = uniqueName('only');
    const result = await restorePartitions(spied, topic, [1], apply, { groupPrefix: prefix });

    expect(applied.map((a) => a.partition)).toEqual(Array.from({ length: 40 }, () => 1));
    expect(applied.map((a) => a.key)).toEqual(records('p1', 40, 1).map((m) => m.key));
    expect(result.records).toBe(40);
    expect(result.progress).toEqual(new Map([[1, 40n]]));
    expect([...fetched]).toEqual([1]);
    expect(await groupsStartingWith(admin, prefix)).toEqual([]);
  });

  it('reads to the end read_committed across committed and aborted transactions', async () => {
    const topic = await changelog(1);
    const producer = await transactional('restore-tx');
    const send = async (messages: Message[], commit: boolean): Promise<void> => {
      const txn = await producer.transaction();
      await txn.send({ topic, messages });
      await (commit ? txn.commit() : txn.abort());
    };
    await send(records('a', 5, 0), true);
    await send(records('b', 3, 0), false);
    await send([{ key: 'a-1', value: 'v-1b', partition: 0 }], true);
    await send(records('c', 4, 0), false);
    await send(records('d', 2, 0), true);
    // The partition ends with an aborted transaction: its last offsets are invisible records
    // and an abort marker.
    await send(records('e', 3, 0), false);
    await producer.disconnect();

    const { applied, apply } = collector();
    const { progress } = await restorePartitions(kafka, topic, [0], apply, {
      groupPrefix: uniqueName('tx'),
    });

    expect(applied.map((a) => `${a.key}=${String(a.value)}`)).toEqual([
      'a-0=v-0',
      'a-1=v-1',
      'a-2=v-2',
      'a-3=v-3',
      'a-4=v-4',
      'a-1=v-1b',
      'd-0=v-0',
      'd-1=v-1',
    ]);
    const [end] = await admin.fetchTopicOffsets(topic);
    expect(progress.get(0)).toBe(BigInt(end?.high ?? -1));
  });

  it('skips aborted transactions of two producers interleaved, the first begun aborted last', async () => {
    // A zombie's transaction begun before the new owner's and aborted by its fence after the
    // new owner's own aborted one: both must stay out of the restored state.
    const topic = await changelog(1);
    const [zombie, owner, next] = await Promise.all([
      transactional('restore-zombie'),
      transactional('restore-owner'),
      transactional('restore-next'),
    ]);
    const z = await zombie.transaction();
    await z.send({ topic, messages: records('z', 3, 0) });
    const o = await owner.transaction();
    await o.send({ topic, messages: records('o', 2, 0) });
    await z.send({ topic, messages: [{ key: 'z-9', value: 'v-9', partition: 0 }] });
    await o.abort();
    await z.abort();
    const n = await next.transaction();
    await n.send({ topic, messages: records('n', 2, 0) });
    await n.commit();
    await Promise.all([zombie, owner, next].map((p) => p.disconnect()));

    const { applied, apply } = collector();
    await restorePartitions(kafka, topic, [0], apply, { groupPrefix: uniqueName('interleaved') });
    expect(applied.map((a) => `${a.key}=${String(a.value)}`)).toEqual(['n-0=v-0', 'n-1=v-1']);
  });

  it('resumes from a given offset and applies only the later records', async () => {
    const topic = await changelog(2);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, messages: [...records('r', 30, 0), ...records('s', 30, 1)] });
    await producer.disconnect();

    const { applied, apply } = collector();
    const progress: RestoreProgress = new Map([
      [0, 20n],
      [1, 5n],
    ]);
    const result = await restorePartitions(kafka, topic, [0, 1], apply, {
      groupPrefix: uniqueName('resume'),
      progress,
    });

    const offsets = (p: number): number[] =>
      applied.filter((a) => a.partition === p).map((a) => Number(a.offset));
    expect(offsets(0)).toEqual(Array.from({ length: 10 }, (_, n) => 20 + n));
    expect(offsets(1)).toEqual(Array.from({ length: 25 }, (_, n) => 5 + n));
    expect(result.progress).toBe(progress);
    expect(progress).toEqual(
      new Map([
        [0, 30n],
        [1, 30n],
      ]),
    );

    // Already at the end: nothing more to apply.
    const again = collector();
    const second = await restorePartitions(kafka, topic, [0, 1], again.apply, {
      groupPrefix: uniqueName('resume'),
      progress,
    });
    expect(second.records).toBe(0);
    expect(again.applied).toEqual([]);
  });

  it('stops when aborted, leaves no group behind, and a retry continues where it stopped', async () => {
    const topic = await changelog(1);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const total = 5000;
    await producer.send({ topic, messages: records('k', total, 0) });
    await producer.disconnect();

    const prefix = uniqueName('abort');
    const controller = new AbortController();
    const first = collector();
    const progress: RestoreProgress = new Map();
    const error: unknown = await restorePartitions(
      kafka,
      topic,
      [0],
      (partition, message) => {
        first.apply(partition, message);
        if (first.applied.length === 300) controller.abort(new Error('task revoked'));
      },
      { groupPrefix: prefix, signal: controller.signal, progress, sliceMs: 0 },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RestoreError);
    expect(isMembraneError(error) && error.code).toBe('kafka.restore-aborted');
    expect(isMembraneError(error) && error.retriable).toBe(false);
    expect(first.applied.length).toBeLessThan(total);
    expect(progress.get(0)).toBe(BigInt(first.applied.length));
    expect((error as RestoreError).progress).toEqual(progress);
    expect(await groupsStartingWith(admin, prefix)).toEqual([]);

    const rest = collector();
    await restorePartitions(kafka, topic, [0], rest.apply, { groupPrefix: prefix, progress });
    expect([...first.applied, ...rest.applied].map((a) => Number(a.offset))).toEqual(
      Array.from({ length: total }, (_, n) => n),
    );
    expect(await groupsStartingWith(admin, prefix)).toEqual([]);
  });

  it('does not start when the signal is already aborted', async () => {
    const topic = await changelog(1);
    const prefix = uniqueName('pre-abort');
    const { applied, apply } = collector();
    const error: unknown = await restorePartitions(kafka, topic, [0], apply, {
      groupPrefix: prefix,
      signal: AbortSignal.abort(),
    }).catch((e: unknown) => e);
    expect(isMembraneError(error) && error.code).toBe('kafka.restore-aborted');
    expect(applied).toEqual([]);
    expect(await groupsStartingWith(admin, prefix)).toEqual([]);
  });

  it('times out with a retriable error carrying its progress; a retry continues from there', async () => {
    const topic = await changelog(1);
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    const total = 2000;
    await producer.send({ topic, messages: records('t', total, 0) });
    await producer.disconnect();

    const prefix = uniqueName('timeout');
    const timeoutMs = 3000;
    const deadline = Date.now() + timeoutMs;
    const first = collector();
    const progress: RestoreProgress = new Map();
    const error: unknown = await restorePartitions(
      kafka,
      topic,
      [0],
      (partition, message) => {
        first.apply(partition, message);
        // A slow apply: record 100 takes until past the deadline (blocking, as a big
        // synchronous restore would, without spinning the CPU).
        if (first.applied.length === 100) {
          const left = deadline - Date.now() + 10;
          if (left > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, left);
        }
      },
      { groupPrefix: prefix, timeoutMs, progress, sliceMs: 0 },
    ).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RestoreError);
    expect(isMembraneError(error) && error.code).toBe('kafka.restore-timeout');
    expect(isMembraneError(error) && error.retriable).toBe(true);
    expect(first.applied.length).toBeGreaterThanOrEqual(100);
    expect(first.applied.length).toBeLessThan(total);
    expect((error as RestoreError).progress).toEqual(new Map([[0, BigInt(first.applied.length)]]));
    expect(progress).toEqual((error as RestoreError).progress);
    expect(await groupsStartingWith(admin, prefix)).toEqual([]);

    const rest = collector();
    await restorePartitions(kafka, topic, [0], rest.apply, { groupPrefix: prefix, progress });
    expect([...first.applied, ...rest.applied].map((a) => Number(a.offset))).toEqual(
      Array.from({ length: total }, (_, n) => n),
    );
  });

  it('does not wait for a transaction still open when it starts (the caller fences first)', async () => {
    const topic = await changelog(1);
    const producer = await transactional('restore-open');
    const committed = await producer.transaction();
    await committed.send({ topic, messages: records('done', 20, 0) });
    await committed.commit();
    const open = await producer.transaction();
    await open.send({ topic, messages: records('open', 5, 0) });

    const { applied, apply } = collector();
    const { progress } = await restorePartitions(kafka, topic, [0], apply, {
      groupPrefix: uniqueName('open'),
      timeoutMs: 60_000,
    });
    await open.abort();
    await producer.disconnect();

    expect(applied.map((a) => a.key)).toEqual(records('done', 20, 0).map((m) => m.key));
    // 20 records and their commit marker.
    expect(progress).toEqual(new Map([[0, 21n]]));
  });
});
