import { CompressionTypes } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decodingLimits,
  limitDecoding,
  registerCodecs,
} from '../../../src/adapters/kafka/codecs.js';
import { waitFor } from '../../../src/infra/wait.js';
import { createTopics, testConsumer, testKafka, uniqueName } from '../../support/kafka.js';

const MiB = 1024 * 1024;
const BACKLOG = 8;

/**
 * A fetch response is decoded within a budget of decompressed bytes (MEMBRANE_MAX_BATCH_BYTES,
 * patched into kafkajs's decodeMessages): once spent, the rest of the response waits for the
 * next fetch. kafkajs asks for partitions in a fixed order, so a partition late in it would
 * wait for as long as an earlier one had a backlog; the patched consumer turns the order with
 * every fetch (test/adapters/kafka/fetch-order.test.ts). Two partitions with a backlog of
 * batches of 3 MiB (once decompressed) each, read with a budget of 4 MiB: no fetch decodes more
 * than two of them, and nothing is left out.
 */
describe('a fetch within its budget of decompressed bytes (patched kafkajs)', () => {
  const kafka = testKafka();
  const admin = kafka.admin();
  const topic = uniqueName('fetch-budget');
  const defaults = decodingLimits();
  let drop: () => Promise<void>;

  beforeAll(async () => {
    await admin.connect();
    drop = await createTopics(admin, [{ topic, numPartitions: 2 }]);
  });

  afterEach(() => {
    limitDecoding(defaults);
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  it('gives every partition its turn, and every record', async () => {
    registerCodecs();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    for (let i = 0; i < BACKLOG; i++)
      for (const partition of [0, 1])
        await producer.send({
          topic,
          compression: CompressionTypes.GZIP,
          messages: [{ partition, value: Buffer.alloc(3 * MiB, i) }],
        });
    await producer.disconnect();

    limitDecoding({ maxBatchBytes: 4 * MiB });
    // Each fetch's records per partition, as kafkajs hands them over.
    const handed: { partition: number; offsets: string[] }[] = [];
    const consumer = testConsumer(kafka);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachBatch: ({ batch }) => {
        handed.push({ partition: batch.partition, offsets: batch.messages.map((m) => m.offset) });
        return Promise.resolve();
      },
    });
    const done = await waitFor(
      () =>
        handed.reduce((n, b) => n + b.offsets.length, 0) >= 2 * BACKLOG
          ? Promise.resolve()
          : Promise.reject(new Error('not yet')),
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    await consumer.disconnect();
    expect(done.ok).toBe(true);
    // Every record, once, in order.
    for (const partition of [0, 1])
      expect(handed.filter((b) => b.partition === partition).flatMap((b) => b.offsets)).toEqual(
        Array.from({ length: BACKLOG }, (_, i) => String(i)),
      );
    // Within the budget: 3 MiB, then 6 — no fetch decoded more than two of these batches.
    expect(Math.max(...handed.map((b) => b.offsets.length))).toBeLessThanOrEqual(2);
    // Both partitions were fetched more than once each, in turns (see fetch-order.test.ts).
    expect(handed.filter((b) => b.partition === 0).length).toBeGreaterThanOrEqual(BACKLOG / 2);
    expect(handed.filter((b) => b.partition === 1).length).toBeGreaterThanOrEqual(BACKLOG / 2);
  });
});
