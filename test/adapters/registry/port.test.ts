import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfluentRegistryPort, schemaFieldOf } from '../../../src/adapters/registry/port.js';
import { UnparseableSchemaError } from '../../../src/pipeline/stages/decode.js';
import { closeServer, holdPort, listenLocal } from '../../support/net.js';

/** A registry that answers `GET /schemas/ids/{id}` from a table, and counts the lookups. */
async function fakeRegistry(
  answers: Record<number, { status?: number; body: string }>,
): Promise<{ url: string; lookups: Map<number, number>; server: Server }> {
  const lookups = new Map<number, number>();
  const server = createServer((request, response) => {
    const id = Number(/^\/schemas\/ids\/(\d+)$/.exec(request.url ?? '')?.[1]);
    lookups.set(id, (lookups.get(id) ?? 0) + 1);
    const answer = answers[id];
    if (answer === undefined) {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end('{"error_code":40403,"message":"Schema not found"}');
      return;
    }
    response.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
    response.end(answer.body);
  });
  const port = await listenLocal(server);
  return { url: `http://127.0.0.1:${port}`, lookups, server };
}

const avroAnswer = (schema: unknown): { body: string } => ({
  body: JSON.stringify({ schema: JSON.stringify(schema), schemaType: 'AVRO', references: [] }),
});

const good = {
  type: 'record',
  name: 'Adj',
  fields: [
    { name: 'sku', type: 'string' },
    { name: 'qty', type: 'int' },
  ],
};
// Registries accept these; avsc refuses them.
const intDefaultText = {
  type: 'record',
  name: 'Adj',
  fields: [{ name: 'qty', type: 'int', default: 'abc' }],
};
const unionDefaultNotFirstBranch = {
  type: 'record',
  name: 'Adj',
  fields: [
    { name: 'sku', type: 'string' },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [{ name: 'lot', type: ['null', 'string'], default: 'L-1' }],
        },
      },
    },
  ],
};
const timestampDefaultText = {
  type: 'record',
  name: 'Adj',
  fields: [
    { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' }, default: '2024-01-01' },
  ],
};

let server: Server | undefined;
afterEach(async () => {
  await closeServer(server);
  server = undefined;
});

describe('the registry port: schema lookups', () => {
  it('parses an Avro schema once per ID', async () => {
    const fake = await fakeRegistry({ 1: avroAnswer(good) });
    server = fake.server;
    const port = new ConfluentRegistryPort({ url: fake.url });
    const type = await port.schemaById(1);
    expect(type?.fromBuffer(type.toBuffer({ sku: 'A', qty: 2 }))).toEqual({ sku: 'A', qty: 2 });
    expect(await port.schemaById(1)).toBe(type);
    expect(fake.lookups.get(1)).toBe(1);
  });

  it('answers undefined for an unknown ID and for a non-Avro schema, asking again for an unknown one', async () => {
    const fake = await fakeRegistry({
      2: { body: JSON.stringify({ schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }) },
    });
    server = fake.server;
    const port = new ConfluentRegistryPort({ url: fake.url });
    expect(await port.schemaById(9)).toBeUndefined();
    expect(await port.schemaById(9)).toBeUndefined();
    expect(fake.lookups.get(9)).toBe(2);
    expect(await port.schemaById(2)).toBeUndefined();
  });

  it.each([
    ['an int field with a text default', intDefaultText, 'qty', /incompatible field default "abc"/],
    [
      'a union default that does not match the first branch, inside array items',
      unionDefaultNotFirstBranch,
      'lines[].lot',
      /union defaults must match the first branch/,
    ],
    [
      'a timestamp-millis field with a text default',
      timestampDefaultText,
      'at',
      /incompatible field default "2024-01-01"/,
    ],
    [
      'a reference to a type the schema does not define',
      {
        type: 'record',
        name: 'Adj',
        fields: [{ name: 'money', type: 'com.example.Money' }],
      },
      '',
      /undefined type name: com\.example\.Money/,
    ],
  ])(
    'rejects %s as an unparseable schema — the record’s fault, cached per ID',
    async (_, schema, path, reason) => {
      const fake = await fakeRegistry({ 5: avroAnswer(schema) });
      server = fake.server;
      const port = new ConfluentRegistryPort({ url: fake.url });
      const first = await port.schemaById(5).catch((error: unknown) => error);
      expect(first).toBeInstanceOf(UnparseableSchemaError);
      expect(first).toMatchObject({
        code: 'registry.unparseable-schema',
        retriable: false,
        schemaId: 5,
        path,
        reason: expect.stringMatching(reason) as unknown,
      });
      await expect(port.schemaById(5)).rejects.toBe(first);
      expect(fake.lookups.get(5)).toBe(1);
    },
  );

  it.each([
    ['an HTML page served with 200', '<html><body>Apicurio Registry</body></html>'],
    ['JSON without a schema', '{"id":3}'],
    ['a schema that is not text', '{"schema":{"type":"string"}}'],
    ['a schema text that is not JSON', '{"schema":"record Adj { int qty; }"}'],
    ['an empty body', ''],
    ['a JSON array', '[1,2]'],
  ])(
    'throws registry.invalid-answer for %s: a broken registry, not a bad record',
    async (_, body) => {
      const fake = await fakeRegistry({ 3: { body } });
      server = fake.server;
      const port = new ConfluentRegistryPort({ url: fake.url });
      const error = await port.schemaById(3).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(UnparseableSchemaError);
      expect(error).toMatchObject({
        code: 'registry.invalid-answer',
        retriable: false,
        message: expect.stringContaining('schema 3') as unknown,
        hint: expect.stringContaining('/apis/ccompat/v7') as unknown,
      });
      // Not cached: the next lookup asks again (the registry may be fixed meanwhile).
      await expect(port.schemaById(3)).rejects.toMatchObject({ code: 'registry.invalid-answer' });
      expect(fake.lookups.get(3)).toBe(2);
    },
  );

  it('throws a retriable registry.unavailable for a 503, and registry.rejected for a 401', async () => {
    const fake = await fakeRegistry({
      4: { status: 503, body: 'down for maintenance' },
      6: { status: 401, body: '{"message":"Unauthorized"}' },
    });
    server = fake.server;
    const port = new ConfluentRegistryPort({ url: fake.url });
    await expect(port.schemaById(4)).rejects.toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
    });
    await expect(port.schemaById(6)).rejects.toMatchObject({
      code: 'registry.rejected',
      retriable: false,
    });
  });
});

/** Every text an error carries: message, stack, `toString`, down its cause chain. */
function textsOf(error: unknown): string {
  const texts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 10; depth++) {
    if (!(e instanceof Error)) {
      texts.push(JSON.stringify(e));
      break;
    }
    texts.push(e.toString(), e.message, e.stack ?? '', JSON.stringify(e));
    if ('hint' in e) texts.push(String(e.hint));
    e = e.cause;
  }
  return texts.join('\n');
}

describe('the registry port: credentials in the URL', () => {
  it('never shows them in an error: not in the message, the hint, the stack or the causes', async () => {
    // A port nobody listens on: the connection is refused.
    const { port: closed, release } = await holdPort();
    await release();
    const port = new ConfluentRegistryPort({
      url: `http://user:secret@127.0.0.1:${closed}/apis/ccompat/v7`,
    });
    const error = await port.schemaById(1).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
      message: expect.stringContaining(
        `at http://127.0.0.1:${closed}/apis/ccompat/v7 could not`,
      ) as unknown,
    });
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
    const texts = textsOf(error);
    expect(texts).not.toContain('secret');
    expect(texts).not.toContain('user:');
  });

  it('nor a query-string token', async () => {
    const port = new ConfluentRegistryPort({ url: 'http://127.0.0.1:1/api?token=t0ps3cret' });
    const texts = textsOf(await port.schemaById(1).catch((e: unknown) => e));
    expect(texts).toContain('token=***');
    expect(texts).not.toContain('t0ps3cret');
  });

  it('sends them as Basic auth (explicit username and password win), and shows them nowhere', async () => {
    const seen: (string | undefined)[] = [];
    server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('<html>not the API</html>');
    });
    const listening = await listenLocal(server);
    const url = `http://us%40er:p%3Asecret@127.0.0.1:${listening}`;
    const error = await new ConfluentRegistryPort({ url }).schemaById(7).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'registry.invalid-answer' });
    expect(textsOf(error)).not.toContain('secret');
    expect((error as { hint: string }).hint).toContain(`(http://127.0.0.1:${listening})`);
    await new ConfluentRegistryPort({ url, username: 'other', password: 'pw' })
      .schemaById(7)
      .catch(() => undefined);
    const basic = (pair: string): string => `Basic ${Buffer.from(pair).toString('base64')}`;
    expect(seen).toEqual([basic('us@er:p:secret'), basic('other:pw')]);
  });
});

describe('the field an avsc schema error is about', () => {
  const record = (fields: unknown[]): unknown => ({ type: 'record', name: 'R', fields });

  it('is found through nested records, unions, array items and map values', () => {
    const schema = record([
      { name: 'a', type: 'int' },
      {
        name: 'inner',
        type: ['null', record([{ name: 'n', type: 'int', default: 'x' }])],
      },
      {
        name: 'attrs',
        type: { type: 'map', values: record([{ name: 'unit', type: 'int', default: 'kg' }]) },
      },
    ]);
    expect(schemaFieldOf(schema, 'incompatible field default "x" (invalid "int": "x")')).toBe(
      'inner.n',
    );
    expect(schemaFieldOf(schema, 'incompatible field default "kg" (invalid "int": "kg")')).toBe(
      'attrs{}.unit',
    );
    expect(
      schemaFieldOf(record([{ name: 'bad-name', type: 'int' }]), 'invalid field name: bad-name'),
    ).toBe('bad-name');
  });

  it('is empty when the message names no field or several fields fit', () => {
    const twice = record([
      { name: 'a', type: 'int', default: 'x' },
      { name: 'b', type: 'int', default: 'x' },
    ]);
    expect(schemaFieldOf(twice, 'incompatible field default "x" (invalid "int": "x")')).toBe('');
    expect(schemaFieldOf(twice, 'undefined type name: Money')).toBe('');
    expect(schemaFieldOf('not a schema', 'incompatible field default "x" (…)')).toBe('');
  });

  it('survives a schema nested deeper than the stack', () => {
    let schema: unknown = {
      type: 'record',
      name: 'Leaf',
      fields: [{ name: 'v', type: 'int', default: 'x' }],
    };
    for (let i = 0; i < 100_000; i++) schema = { type: 'array', items: schema };
    expect(
      schemaFieldOf(record([{ name: 'deep', type: schema }]), 'incompatible field default "x" ('),
    ).toBe(`deep${'[]'.repeat(100_000)}.v`);
  });
});
