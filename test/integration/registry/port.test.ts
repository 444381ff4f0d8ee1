import { SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { createSchemaRegistry } from '../../../src/adapters/registry/client.js';
import { describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { UnparseableSchemaError } from '../../../src/pipeline/stages/decode.js';
import { freePort } from '../../../src/infra/ports.js';
import { infra, uniqueName } from '../../support/kafka.js';

const schema = avro.Type.forSchema({
  type: 'record',
  name: 'Adjusted',
  fields: [
    { name: 'sku', type: 'string' },
    { name: 'delta', type: 'int' },
  ],
});

describe('the registry port against the real registry', () => {
  it('registers once per subject and schema, and finds schemas by ID', async () => {
    const port = new ConfluentRegistryPort({ url: infra().registryUrl });
    const subject = `${uniqueName('adjusted')}-value`;
    const id = await port.register(subject, schema);
    expect(await port.register(subject, schema)).toBe(id);
    const found = await port.schemaById(id);
    // What another client (the producers' library) registered is found too.
    const theirs = await createSchemaRegistry({ url: infra().registryUrl }).getRegistryIdBySchema(
      subject,
      {
        type: SchemaType.AVRO,
        schema: JSON.stringify(schema.schema()),
      },
    );
    expect(theirs).toBe(id);
    expect(found?.fromBuffer(schema.toBuffer({ sku: 'A', delta: 2 }))).toEqual({
      sku: 'A',
      delta: 2,
    });
  });

  it('answers undefined for an ID the registry does not have', async () => {
    const port = new ConfluentRegistryPort({ url: infra().registryUrl });
    expect(await port.schemaById(2_000_000_000)).toBeUndefined();
  });

  it('reports a schema the registry accepted but avsc cannot parse as unparseable, not as an outage', async () => {
    // Apicurio 3.0.9 refuses an int field with a text default (HTTP 422) but stores a union
    // default that does not match the union's first branch, which avsc refuses.
    const subject = `${uniqueName('unparseable')}-value`;
    const text = JSON.stringify({
      type: 'record',
      name: 'Adjusted',
      fields: [
        { name: 'sku', type: 'string' },
        { name: 'lot', type: ['null', 'string'], default: 'L-1' },
      ],
    });
    const response = await fetch(
      `${infra().registryUrl}/subjects/${encodeURIComponent(subject)}/versions`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
        body: JSON.stringify({ schema: text, schemaType: 'AVRO' }),
      },
    );
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: number };
    const port = new ConfluentRegistryPort({ url: infra().registryUrl });
    const error = await port.schemaById(id).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnparseableSchemaError);
    expect(error).toMatchObject({
      code: 'registry.unparseable-schema',
      retriable: false,
      schemaId: id,
      path: 'lot',
      reason: expect.stringContaining('union defaults must match the first branch') as unknown,
    });
  });

  it('refuses an incompatible schema for a subject as registry.rejected, not as an outage', async () => {
    const port = new ConfluentRegistryPort({ url: infra().registryUrl });
    const subject = `${uniqueName('compat')}-value`;
    await port.register(subject, schema);
    await fetch(`${infra().registryUrl}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    const incompatible = avro.Type.forSchema({
      type: 'record',
      name: 'Adjusted',
      fields: [{ name: 'sku', type: 'int' }],
    });
    await expect(port.register(subject, incompatible)).rejects.toMatchObject({
      code: 'registry.rejected',
      retriable: false,
    });
  });

  it('throws a retriable registry.unavailable when nothing answers', async () => {
    const port = new ConfluentRegistryPort({ url: `http://127.0.0.1:${await freePort()}` });
    await expect(port.schemaById(1)).rejects.toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
    });
    await expect(port.register('x-value', schema)).rejects.toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
    });
  });
});
