import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorePartitions } from '../../../src/adapters/kafka/restore.js';
import { changelogTopic, taskProducers, type Task } from '../../../src/app/task.js';
import {
  consumeUntil,
  createTopics,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';
import { header } from '../../support/runtime.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { testTask } from '../../support/tasks.js';

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
    const pipeline = await compileText(BASE_MAPPING);
    const createProducer = taskProducers(kafka);
    const task = (): Task => testTask(pipeline, createProducer, { groupId });
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

  it('ends a chunk and commits when its time budget is spent, and takes the rest next', async () => {
    const output = uniqueName('placed');
    const input = uniqueName('orders');
    const quarantineTopic = uniqueName('quarantine');
    await createTopics(admin, [{ topic: input }, { topic: output }, { topic: quarantineTopic }]);
    const pipeline = await compileText(
      BASE_MAPPING.replace('topic: sales.placed', `topic: ${output}`),
    );
    const task = testTask(pipeline, taskProducers(kafka), { groupId, quarantineTopic });
    await task.fence();
    const messages = Array.from({ length: 200 }, (_, i) => ({
      key: Buffer.from(`o-${i % 7}`),
      value: Buffer.from(
        JSON.stringify({ event_id: `e-${i}`, order_id: `o-${i % 7}`, total: '1.00' }),
      ),
      headers: {},
      offset: String(i),
      timestamp: String(Date.now()),
      attributes: 0,
    }));
    // A spent budget: the chunk stops at its first check (after 64 records) and commits those.
    const first = await task.processChunk(input, messages, 0);
    expect(first).toEqual({ committed: 64, retry: undefined });
    const rest = await task.processChunk(input, messages.slice(64));
    expect(rest).toEqual({ committed: 136, retry: undefined });
    const outputs = await consumeUntil(testConsumer(kafka), [output], (r) => r.length >= 200);
    expect(outputs.map((r) => header(r, 'membrane.source.offset'))).toEqual(
      messages.map((m) => m.offset),
    );
    await task.close();
    await admin.deleteTopics({ topics: [input, output, quarantineTopic] });
  });
});
