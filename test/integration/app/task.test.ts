import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorePartitions } from '../../../src/adapters/kafka/restore.js';
import { createLogger } from '../../../src/app/logger.js';
import { Metrics } from '../../../src/app/metrics.js';
import { changelogTopic, Task } from '../../../src/app/task.js';
import { createTopics, testKafka, uniqueName } from '../../support/kafka.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';

describe('a task taking over from an owner that died mid-transaction', () => {
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
    const pipeline = await compileText(BASE_MAPPING);
    const createProducer = (transactionalId: string | undefined) =>
      kafka.producer({
        ...(transactionalId === undefined ? {} : { transactionalId }),
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: 60_000,
      });
    const task = (): Task =>
      new Task(
        pipeline,
        0,
        {
          groupId,
          quarantineTopic: uniqueName('quarantine'),
          guarantee: 'exactly_once',
          metrics: new Metrics(),
          logger: createLogger('silent'),
          now: () => new Date(),
          dedupWindow: 100,
          commitOffsets: () => Promise.resolve(),
        },
        createProducer,
      );
    // The old owner writes state in a transaction and dies before committing it.
    const dead = task();
    const producer = createProducer(dead.transactionalId);
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

    const next = task();
    expect(next.transactionalId).toBe(dead.transactionalId);
    await next.fence();
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
});
