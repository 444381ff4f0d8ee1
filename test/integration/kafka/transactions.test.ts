import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import {
  consumeUntil,
  createTopics,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';

describe('Kafka transactions against the real broker', () => {
  const kafka = testKafka();
  const input = uniqueName('tx-in');
  const output = uniqueName('tx-out');
  let admin: Admin;
  let dropTopics: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    dropTopics = await createTopics(admin, [{ topic: input }, { topic: output }]);
  });

  afterAll(async () => {
    await dropTopics();
    await admin.disconnect();
  });

  it('commits outputs and consumer offsets together; read_committed readers see the outputs', async () => {
    const groupId = uniqueName('tx-group');
    const plain = kafka.producer({ idempotent: true });
    await plain.connect();
    await plain.send({ topic: input, messages: [{ value: 'a' }, { value: 'b' }, { value: 'c' }] });
    await plain.disconnect();

    const producer = kafka.producer({
      transactionalId: uniqueName('tx-commit'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const txn = await producer.transaction();
    await txn.send({
      topic: output,
      messages: ['a', 'b', 'c'].map((v) => ({ value: v.toUpperCase() })),
    });
    await txn.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '3' }] }],
    });
    await txn.commit();
    await producer.disconnect();

    const seen = await consumeUntil(testConsumer(kafka), [output], (r) => r.length >= 3);
    expect(seen.map((r) => r.message.value?.toString())).toEqual(['A', 'B', 'C']);

    const [offsets] = await admin.fetchOffsets({ groupId, topics: [input] });
    expect(offsets?.partitions).toEqual([{ partition: 0, offset: '3', metadata: null }]);
    await admin.deleteGroups([groupId]);
  });

  it('hides an aborted transaction from read_committed readers but not from read_uncommitted ones', async () => {
    const topic = uniqueName('tx-abort');
    const drop = await createTopics(admin, [{ topic }]);
    const groupId = uniqueName('tx-abort-group');
    const producer = kafka.producer({
      transactionalId: uniqueName('tx-abort'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();

    const aborted = await producer.transaction();
    await aborted.send({ topic, messages: [{ value: 'aborted' }] });
    await aborted.sendOffsets({
      consumerGroupId: groupId,
      topics: [{ topic: input, partitions: [{ partition: 0, offset: '1' }] }],
    });
    await aborted.abort();

    const committed = await producer.transaction();
    await committed.send({ topic, messages: [{ value: 'committed' }] });
    await committed.commit();
    await producer.disconnect();

    const committedView = await consumeUntil(testConsumer(kafka), [topic], (r) =>
      r.some((m) => m.message.value?.toString() === 'committed'),
    );
    expect(committedView.map((r) => r.message.value?.toString())).toEqual(['committed']);

    const uncommittedView = await consumeUntil(
      testConsumer(kafka, { readUncommitted: true }),
      [topic],
      (r) => r.some((m) => m.message.value?.toString() === 'committed'),
    );
    expect(uncommittedView.map((r) => r.message.value?.toString())).toEqual([
      'aborted',
      'committed',
    ]);

    // The offsets sent in the aborted transaction were not committed either.
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [input] });
    expect(offsets?.partitions[0]?.offset).toBe('-1');
    await drop();
  });

  /**
   * Kafka lists a partition's aborted transactions in the order their markers were written.
   * Two producers interleaved, the one that began first aborting last: unpatched kafkajs looked
   * only at the head of that list and returned the first one's records as committed (found by
   * the freeze-thaw scenario: a zombie's aborted outputs read back as duplicates).
   */
  it('hides aborted transactions of two producers interleaved on one partition, the first begun aborted last', async () => {
    const topic = uniqueName('tx-interleaved');
    const drop = await createTopics(admin, [{ topic }]);
    const producer = async (): Promise<ReturnType<typeof kafka.producer>> => {
      const p = kafka.producer({
        transactionalId: uniqueName('tx-interleaved'),
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await p.connect();
      return p;
    };
    const [first, second, third] = await Promise.all([producer(), producer(), producer()]);
    const a = await first.transaction();
    await a.send({ topic, messages: [{ value: 'a1' }] });
    const b = await second.transaction();
    await b.send({ topic, messages: [{ value: 'b1' }] });
    await a.send({ topic, messages: [{ value: 'a2' }] });
    await b.abort();
    await a.send({ topic, messages: [{ value: 'a3' }] });
    await a.abort();
    const c = await third.transaction();
    await c.send({ topic, messages: [{ value: 'committed' }] });
    await c.commit();
    await Promise.all([first, second, third].map((p) => p.disconnect()));

    const committedView = await consumeUntil(testConsumer(kafka), [topic], (r) =>
      r.some((m) => m.message.value?.toString() === 'committed'),
    );
    expect(committedView.map((r) => r.message.value?.toString())).toEqual(['committed']);
    const uncommittedView = await consumeUntil(
      testConsumer(kafka, { readUncommitted: true }),
      [topic],
      (r) => r.some((m) => m.message.value?.toString() === 'committed'),
    );
    expect(uncommittedView.map((r) => r.message.value?.toString())).toEqual([
      'a1',
      'b1',
      'a2',
      'a3',
      'committed',
    ]);
    await drop();
  });
});
