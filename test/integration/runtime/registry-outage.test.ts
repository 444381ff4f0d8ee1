import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { createSchemaRegistry } from '../../../src/adapters/registry/client.js';
import { loadRunConfig } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/logger.js';
import { Runtime } from '../../../src/app/runtime.js';
import { projectRoot } from '../../../src/infra/paths.js';
import { waitFor } from '../../../src/infra/wait.js';
import {
  consumeUntil,
  createTopics,
  infra,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';
import { folderWith } from '../../support/mappings.js';
import { cuttableProxy, type CuttableProxy } from '../../support/proxy.js';

describe('membrane run while the schema registry is down', () => {
  const kafka = testKafka();
  const root = projectRoot();
  const input = uniqueName('wms.stock');
  const output = uniqueName('fulfillment.stock');
  const quarantine = uniqueName('quarantine');
  const group = uniqueName('membrane');
  let admin: Admin;
  let drop: () => Promise<void>;
  let proxy: CuttableProxy;
  let mappings: string;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic: input, numPartitions: 2 }]);
    const registry = new URL(infra().registryUrl);
    proxy = await cuttableProxy(registry.hostname, Number(registry.port));
    const text = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replaceAll('topics: [wms.stock-adjustments]', `topics: [${input}]`)
      .replaceAll('topic: fulfillment.stock-adjusted.v1', `topic: ${output}`)
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`);
    mappings = await folderWith({});
    await writeFile(join(mappings, 'wms-stock.yaml'), text);
  });

  afterAll(async () => {
    await proxy.close();
    await drop();
    await admin.deleteTopics({ topics: [output, quarantine] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('quarantines nothing because of it, and carries on when it is back', async () => {
    // Producers register a schema version membrane has not seen yet.
    const producerSide = createSchemaRegistry({ url: infra().registryUrl });
    const v1 = await readFile(join(root, 'schemas/upstream/wms/stock-adjustment-v1.avsc'), 'utf8');
    const { id } = await producerSide.register(
      { type: SchemaType.AVRO, schema: v1 },
      { subject: `${input}-value` },
    );
    const adjustments = async (
      from: number,
      count: number,
    ): Promise<{ key: string; value: Buffer; headers: Record<string, string> }[]> =>
      Promise.all(
        Array.from({ length: count }, async (_, n) => ({
          key: `SKU-${(from + n) % 10}`,
          value: await producerSide.encode(id, {
            adjustment_id: `adj-${from + n}`,
            sku: `SKU-${(from + n) % 10}`,
            warehouse_id: 'WH-BER',
            delta_qty: 1,
            reason_code: 'RCV',
            occurred_at: 1782900000000,
          }),
          headers: { 'x-source-system': 'wms' },
        })),
      );

    const config = loadRunConfig({
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}${new URL(infra().registryUrl).pathname}`,
      MEMBRANE_GROUP_ID: group,
      MEMBRANE_MAPPINGS: mappings,
      MEMBRANE_QUARANTINE_TOPIC: quarantine,
      MEMBRANE_HTTP_PORT: '0',
      MEMBRANE_RETRY_MAX_MS: '500',
      LOG_LEVEL: 'silent',
    });
    const runtime = new Runtime({ config, logger: createLogger('silent') });
    await runtime.start();
    try {
      // The registry goes away before membrane has seen the writer schema.
      proxy.down();
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      await producer.send({ topic: input, messages: await adjustments(0, 200) });
      await producer.disconnect();

      const retried = await waitFor(
        async () => {
          const metrics =
            await runtime.metrics.registry.getSingleMetricAsString('membrane_retries_total');
          if (!/registry\.unavailable"\} [1-9]/.test(metrics)) throw new Error(metrics);
        },
        { timeoutMs: 30_000, intervalMs: 100 },
      );
      expect(retried.ok).toBe(true);
      const [during] = await admin.fetchOffsets({ groupId: group, topics: [input] });
      expect(during?.partitions.every((p) => p.offset === '-1' || p.offset === '0')).toBe(true);

      proxy.up();
      const done = await waitFor(
        async () => {
          const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [input] });
          const total = (offsets?.partitions ?? []).reduce(
            (sum, p) => sum + Math.max(0, Number(p.offset)),
            0,
          );
          if (total < 200) throw new Error(`${total} committed`);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(done.ok).toBe(true);
      const outputs = await consumeUntil(testConsumer(kafka), [output], (r) => r.length >= 200);
      expect(outputs).toHaveLength(200);
      const quarantined = await runtime.metrics.registry.getSingleMetricAsString(
        'membrane_records_quarantined_total',
      );
      expect(quarantined).not.toMatch(/\} [1-9]/);
    } finally {
      await runtime.stop();
    }
  });
});
