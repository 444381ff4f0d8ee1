import { describe, expect, it } from 'vitest';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { createSchemaRegistry, pingRegistry } from '../../../src/adapters/registry/client.js';
import { infra, uniqueName } from '../../support/kafka.js';

const v1 = {
  type: 'record',
  name: 'StockAdjusted',
  namespace: 'fulfillment',
  fields: [
    { name: 'sku', type: 'string' },
    { name: 'deltaQty', type: 'int' },
  ],
};

const v2 = {
  ...v1,
  fields: [...v1.fields, { name: 'reason', type: ['null', 'string'], default: null }],
};

describe('@kafkajs/confluent-schema-registry against the real registry', () => {
  it('registers an Avro schema, encodes in the Confluent wire format and decodes', async () => {
    const registry = createSchemaRegistry({ url: infra().registryUrl });
    const subject = `${uniqueName('stock')}-value`;

    const { id } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject },
    );
    expect(id).toBeGreaterThan(0);
    expect(await registry.getLatestSchemaId(subject)).toBe(id);
    expect(await pingRegistry(infra().registryUrl)).toContain(subject);

    const bytes = await registry.encode(id, { sku: 'SKU-1', deltaQty: -3 });
    expect(bytes[0]).toBe(0); // magic byte
    expect(bytes.readInt32BE(1)).toBe(id); // schema id, big-endian
    expect(await registry.decode(bytes)).toEqual({ sku: 'SKU-1', deltaQty: -3 });

    // Registering the same schema again is idempotent.
    const again = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v1) },
      { subject },
    );
    expect(again.id).toBe(id);

    // A backward-compatible evolution gets a new id; old bytes still decode with theirs.
    const evolved = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v2) },
      { subject },
    );
    expect(evolved.id).not.toBe(id);
    expect(await registry.getLatestSchemaId(subject)).toBe(evolved.id);
    const newBytes = await registry.encode(evolved.id, {
      sku: 'SKU-2',
      deltaQty: 5,
      reason: 'cycle-count',
    });
    expect(await registry.decode(newBytes)).toEqual({
      sku: 'SKU-2',
      deltaQty: 5,
      reason: 'cycle-count',
    });
    expect(await registry.decode(bytes)).toEqual({ sku: 'SKU-1', deltaQty: -3 });
  });

  it('fails on an unknown schema id instead of guessing', async () => {
    const registry = createSchemaRegistry({ url: infra().registryUrl });
    const bogus = Buffer.concat([
      Buffer.from([0]),
      Buffer.from([0x7f, 0xff, 0xff, 0x00]),
      Buffer.from([2, 3]),
    ]);
    await expect(registry.decode(bogus)).rejects.toThrow();
  });
});
