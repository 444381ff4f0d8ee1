import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { CompressionTypes } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKafkaJars } from '../../../src/infra/downloads.js';
import { infraPaths, projectRoot } from '../../../src/infra/paths.js';
import { createProgress } from '../../../src/infra/progress.js';
import { javaCommand } from '../../../src/infra/tools.js';
import {
  consumeUntil,
  createTopics,
  infra,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';

/**
 * Upstream producers compress: Java clients often with lz4, snappy or zstd, which kafkajs
 * cannot read by itself (membrane registers codecs in src/adapters/kafka/codecs.ts). Records
 * written by the real Java client, in every compression type, read back through membrane's
 * kafkajs client.
 */
const TYPES = ['gzip', 'snappy', 'lz4', 'zstd'] as const;
const COUNT = 200;

describe('compressed upstream batches', () => {
  const kafka = testKafka();
  const admin = kafka.admin();
  const prefix = uniqueName('compressed');
  let drop: () => Promise<void>;

  beforeAll(async () => {
    await admin.connect();
    drop = await createTopics(
      admin,
      TYPES.map((type) => ({ topic: `${prefix}-${type}` })),
    );
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  it('reads what the Java client wrote with gzip, snappy, lz4 and zstd', async () => {
    const libs = await ensureKafkaJars(infraPaths(), createProgress());
    const source = join(projectRoot(), 'test/support/java/CompressedProducer.java');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>(
      (resolve, reject) => {
        const child = spawn(
          javaCommand(),
          ['-cp', `${libs}/*`, source, infra().brokers.join(','), prefix, String(COUNT), ...TYPES],
          { stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let err = '';
        child.stderr.on('data', (chunk: Buffer) => {
          err += chunk.toString();
        });
        child.on('error', reject);
        child.on('close', (exit) => {
          resolve({ code: exit, stderr: err });
        });
      },
    );
    expect(code, stderr).toBe(0);
    for (const type of TYPES) {
      const records = await consumeUntil(
        testConsumer(kafka),
        [`${prefix}-${type}`],
        (r) => r.length >= COUNT,
        60_000,
      );
      expect(records, type).toHaveLength(COUNT);
      const values = records.map(
        (r) => JSON.parse(r.message.value?.toString() ?? '') as { n: number },
      );
      expect(
        values.map((v) => v.n).sort((a, b) => a - b),
        type,
      ).toEqual(Array.from({ length: COUNT }, (_, i) => i));
    }
  }, 180_000);

  it('writes snappy that kafkajs reads back (lz4 and zstd are read-only)', async () => {
    const topic = `${prefix}-gzip`;
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic,
      compression: CompressionTypes.Snappy,
      messages: Array.from({ length: 100 }, (_, i) => ({ value: `again ${i} `.repeat(10) })),
    });
    for (const compression of [CompressionTypes.LZ4, CompressionTypes.ZSTD])
      await expect(
        producer.send({ topic, compression, messages: [{ value: 'x' }] }),
      ).rejects.toThrow(/does not write them/);
    await producer.disconnect();
    const records = await consumeUntil(
      testConsumer(kafka),
      [topic],
      (r) => r.length >= COUNT + 100,
      60_000,
    );
    expect(records.filter((r) => r.message.value?.toString().startsWith('again'))).toHaveLength(
      100,
    );
  });
});
