import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../../../src/adapters/registry/client.js';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { projectRoot } from '../../../src/infra/paths.js';
import { compileMapping } from '../../../src/mapping/compile.js';
import { loadMappingFile } from '../../../src/mapping/load.js';
import { InMemoryClocks } from '../../../src/pipeline/ports.js';
import { sourceRecord } from '../../support/records.js';
import { infra } from '../../support/kafka.js';

const root = projectRoot();

describe('the wms-stock pipeline with the real schema registry', () => {
  it('decodes what a producer library wrote, and writes what a consumer library reads', async () => {
    const producerSide = createSchemaRegistry({ url: infra().registryUrl });
    const v1 = await readFile(join(root, 'schemas/upstream/wms/stock-adjustment-v1.avsc'), 'utf8');
    const { id: writerId } = await producerSide.register(
      { type: SchemaType.AVRO, schema: v1 },
      { subject: 'wms.stock-adjustments-value' },
    );
    const value = await producerSide.encode(writerId, {
      adjustment_id: 'adj-int-1',
      sku: 'SKU-9',
      warehouse_id: 'WH-BER',
      delta_qty: -2,
      reason_code: 'DMG',
      occurred_at: 1782900000000,
    });

    const pipeline = await compileMapping(
      await loadMappingFile(join(root, 'mappings/wms-stock.yaml'), {}),
      {
        registry: new ConfluentRegistryPort({ url: infra().registryUrl }),
        clocks: new InMemoryClocks(),
      },
    );
    const result = await pipeline.process(
      sourceRecord({
        topic: 'wms.stock-adjustments',
        value,
        headers: { 'x-source-system': 'wms' },
      }),
    );
    if (result.kind !== 'pass') throw new Error(JSON.stringify(result));
    const [out] = result.outputs;
    expect(out?.topic).toBe('fulfillment.stock-adjusted.v1');
    // A downstream consumer decodes it with the registry, under the TopicNameStrategy subject.
    expect(await producerSide.decode(out?.value ?? Buffer.alloc(0))).toEqual({
      sku: 'SKU-9',
      warehouseId: 'WH-BER',
      delta: -2,
      reason: 'DAMAGED',
      occurredAt: 1782900000000,
      lot: null,
    });
    expect(await producerSide.getLatestSchemaId('fulfillment.stock-adjusted.v1-value')).toBe(
      out?.value.readInt32BE(1),
    );
  });
});
