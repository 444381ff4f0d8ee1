import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../../../src/adapters/kafka/errors.js';
import { restorePartitions } from '../../../../src/adapters/kafka/restore.js';
import {
  taskProducer,
  TransactionalTaskProducer,
} from '../../../../src/adapters/kafka/task-ports.js';
import { changelogTopic } from '../../../../src/app/runtime/state.js';
import { createTopics, testKafka, uniqueName } from '../../../support/kafka.js';

describe('a task', () => {
  const kafka = testKafka();
  const groupId = uniqueName('fence');
  const changelog = changelogTopic(groupId, 'orders');
  let admin: Admin;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic: changelog }]);
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  it('aborts the open transaction when it fences, so its changelog reads to the end at once', async () => {
    const transactionalId = `${groupId}.orders.0`;
    // The old owner writes state in a transaction and dies before committing it.
    const producer = taskProducer(kafka, transactionalId);
    await producer.connect();
    const done = await producer.transaction();
    await done.send({
      topic: changelog,
      messages: [{ key: 'c|o-1', value: '{"erp":1}', partition: 0 }],
    });
    await done.commit();
    const open = await producer.transaction();
    await open.send({
      topic: changelog,
      messages: [{ key: 'c|o-1', value: '{"erp":2}', partition: 0 }],
    });

    const next = new TransactionalTaskProducer(kafka, transactionalId, groupId);
    await next.init(new AbortController().signal);
    // Well inside the 60 s transaction timeout: only the fence can have ended that transaction.
    const restored: (string | undefined)[] = [];
    const { records } = await restorePartitions(
      kafka,
      changelog,
      [0],
      (_, message) => restored.push(message.value?.toString()),
      { groupPrefix: groupId, timeoutMs: 15_000 },
    );
    expect(records).toBe(1);
    expect(restored).toEqual(['{"erp":1}']);
    await expect(open.commit()).rejects.toThrow(
      /fenced|epoch|ProducerFenced|INVALID_PRODUCER_EPOCH/i,
    );
    await next.close();
    await producer.disconnect();
  });

  it('a zombie whose task was adopted elsewhere cannot commit, and its failure reads as migrated', async () => {
    const transactionalId = `${groupId}.orders.1`;
    const zombie = new TransactionalTaskProducer(kafka, transactionalId, groupId);
    await zombie.init(new AbortController().signal);
    const owner = new TransactionalTaskProducer(kafka, transactionalId, groupId);
    await owner.init(new AbortController().signal);
    const write = (value: string) =>
      [{ topic: changelog, messages: [{ key: 'c|o-2', value, partition: 0 }] }] as const;
    const position = { topic: changelog, partition: 0, offset: '0' };
    const refused: unknown = await zombie
      .commit(write('{"erp":9}'), position)
      .catch((e: unknown) => e);
    expect(classifyKafkaError(refused).kind).toBe('migrated');
    await owner.commit(write('{"erp":1}'), position);
    const restored: (string | undefined)[] = [];
    await restorePartitions(
      kafka,
      changelog,
      [0],
      (_, message) => {
        if (message.key?.toString() === 'c|o-2') restored.push(message.value?.toString());
      },
      { groupPrefix: groupId, timeoutMs: 15_000 },
    );
    expect(restored).toEqual(['{"erp":1}']);
    await zombie.close();
    await owner.close();
  });
});
