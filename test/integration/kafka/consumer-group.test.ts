import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import {
  consumeUntil,
  createTopics,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';

describe('a consumer group against the real broker', () => {
  const kafka = testKafka();
  const topic = uniqueName('roundtrip');
  const groupId = uniqueName('group');
  let admin: Admin;
  let dropTopics: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    dropTopics = await createTopics(admin, [{ topic, numPartitions: 3 }]);
  });

  afterAll(async () => {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await dropTopics();
    await admin.disconnect();
  });

  it('delivers every record once, in key order per partition, and commits the group offsets', async () => {
    const keys = ['order-1', 'order-2', 'order-3', 'order-4'];
    const perKey = 25;
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: perKey }, (_, i) =>
        keys.map((key) => ({ key, value: JSON.stringify({ key, seq: i }) })),
      ).flat(),
    });
    await producer.disconnect();

    const total = keys.length * perKey;
    const received = await consumeUntil(
      testConsumer(kafka, { groupId }),
      [topic],
      (r) => r.length >= total,
    );

    expect(received).toHaveLength(total);
    for (const key of keys) {
      const seqs = received
        .filter((r) => r.message.key?.toString() === key)
        .map((r) => (JSON.parse(r.message.value?.toString() ?? '{}') as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: perKey }, (_, i) => i));
      // One key, one partition.
      expect(
        new Set(received.filter((r) => r.message.key?.toString() === key).map((r) => r.partition))
          .size,
      ).toBe(1);
    }

    const ends = await admin.fetchTopicOffsets(topic);
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    const committedBy = new Map(committed?.partitions.map((p) => [p.partition, p.offset]));
    for (const end of ends) expect(committedBy.get(end.partition)).toBe(end.offset);
    expect(ends.reduce((sum, p) => sum + Number(p.offset), 0)).toBe(total);
  });
});
