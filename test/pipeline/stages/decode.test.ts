import fc from 'fast-check';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { schemaFieldOf } from '../../../src/adapters/registry/port.js';
import { MembraneError } from '../../../src/core/errors.js';
import { InMemorySchemaRegistry, type SchemaRegistryPort } from '../../../src/pipeline/ports.js';
import {
  createDecodeStage,
  decodeJson,
  UnparseableSchemaError,
} from '../../../src/pipeline/stages/decode.js';
import { sourceRecord } from '../../support/records.js';

const codeOf = (verdict: Awaited<ReturnType<ReturnType<typeof createDecodeStage>>>): string =>
  verdict.kind === 'quarantine' ? (verdict.issues[0]?.code ?? '') : verdict.kind;

const writer = avro.Type.forSchema({
  type: 'record',
  name: 'Adj',
  fields: [
    { name: 'sku', type: 'string' },
    { name: 'qty', type: 'int' },
  ],
});
const reader = avro.Type.forSchema({
  type: 'record',
  name: 'Adj',
  fields: [
    { name: 'sku', type: 'string' },
    { name: 'qty', type: 'int' },
    { name: 'lot', type: ['null', 'string'], default: null },
  ],
});

/**
 * A registry in memory that holds schemas as text, as a real one does, and answers like the
 * REST port: a schema avsc cannot parse rejects with UnparseableSchemaError. Counts lookups.
 */
class TextSchemaRegistry implements SchemaRegistryPort {
  readonly lookups: number[] = [];
  constructor(private readonly texts: ReadonlyMap<number, string>) {}

  schemaById(id: number): Promise<avro.Type | undefined> {
    this.lookups.push(id);
    const text = this.texts.get(id);
    if (text === undefined) return Promise.resolve(undefined);
    const schema = JSON.parse(text) as avro.Schema;
    try {
      return Promise.resolve(avro.Type.forSchema(schema));
    } catch (error) {
      const reason = (error as Error).message;
      return Promise.reject(
        new UnparseableSchemaError(id, reason, schemaFieldOf(schema, reason), error),
      );
    }
  }

  register(): Promise<number> {
    return Promise.reject(new Error('unused'));
  }
}

function wire(id: number, body: Buffer, magic = 0): Buffer {
  const bytes = Buffer.alloc(5 + body.length);
  bytes[0] = magic;
  bytes.writeInt32BE(id, 1);
  body.copy(bytes, 5);
  return bytes;
}

describe('decode: JSON', () => {
  it('parses an object', () => {
    expect(decodeJson(Buffer.from('{"a":{"b":[1,2]}}'))).toEqual({
      kind: 'pass',
      value: { a: { b: [1, 2] } },
    });
  });

  it('refuses prototype keys anywhere, even inside strings-looking places only when they are keys', () => {
    expect(codeOf(decodeJson(Buffer.from('{"a":[{"constructor":{"prototype":1}}]}')))).toBe(
      'decode.forbidden-key',
    );
    expect(codeOf(decodeJson(Buffer.from('{"note":"__proto__ is fine as text"}')))).toBe('pass');
  });

  it('survives JSON nested 10,000 deep and quarantines it', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(codeOf(decodeJson(Buffer.from(`{"a":${deep}}`)))).toBe('decode.too-deep');
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const verdict = decodeJson(Buffer.from(bytes));
        return verdict.kind === 'pass' || verdict.kind === 'quarantine';
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary JSON text, and passes exactly the objects without prototype keys', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const verdict = decodeJson(Buffer.from(text));
        const value: unknown = JSON.parse(text);
        const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
        if (!isObject) return verdict.kind === 'quarantine';
        return (
          verdict.kind === 'pass' ||
          (verdict.kind === 'quarantine' && verdict.issues[0]?.code === 'decode.forbidden-key')
        );
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decode: Avro in the Confluent wire format', () => {
  it('decodes with the writer schema, and resolves writers to the reader schema', async () => {
    const registry = new InMemorySchemaRegistry();
    const id = await registry.register('adj-value', writer);
    const body = writer.toBuffer({ sku: 'A', qty: 3 });
    const plain = createDecodeStage('avro', { registry, reader: undefined });
    expect(await plain(sourceRecord({ value: wire(id, body) }))).toEqual({
      kind: 'pass',
      value: { sku: 'A', qty: 3 },
    });
    const resolving = createDecodeStage('avro', { registry, reader });
    expect(await resolving(sourceRecord({ value: wire(id, body) }))).toEqual({
      kind: 'pass',
      value: { sku: 'A', qty: 3, lot: null },
    });
  });

  it('gives each kind of bad bytes its own code', async () => {
    const registry = new InMemorySchemaRegistry();
    const id = await registry.register('adj-value', writer);
    const body = writer.toBuffer({ sku: 'ABCDEF', qty: 3 });
    const stage = createDecodeStage('avro', { registry, reader: undefined });
    const cases: [Buffer | null, string][] = [
      [null, 'decode.empty-value'],
      [Buffer.alloc(0), 'decode.empty-value'],
      [wire(id, body, 7), 'decode.wrong-magic-byte'],
      [Buffer.from([0, 0, 0]), 'decode.truncated'],
      [wire(999, body), 'decode.unknown-schema'],
      [wire(id, body).subarray(0, 8), 'decode.truncated'],
      [Buffer.concat([wire(id, body), Buffer.from([1, 2])]), 'decode.invalid-avro'],
    ];
    for (const [value, code] of cases)
      expect(codeOf(await stage(sourceRecord({ value }))), code).toBe(code);
  });

  it('quarantines a writer schema that cannot be read as the reader schema', async () => {
    const registry = new InMemorySchemaRegistry();
    const other = avro.Type.forSchema({
      type: 'record',
      name: 'Other',
      fields: [{ name: 'x', type: 'boolean' }],
    });
    const id = await registry.register('x-value', other);
    const stage = createDecodeStage('avro', { registry, reader });
    expect(
      codeOf(await stage(sourceRecord({ value: wire(id, other.toBuffer({ x: true })) }))),
    ).toBe('decode.unknown-schema');
  });

  it('quarantines records whose writer schema the registry holds but avsc cannot parse, asking the registry once', async () => {
    // Registries accept an int field with a text default; avsc refuses it.
    const registry = new TextSchemaRegistry(
      new Map([
        [1, JSON.stringify(writer.schema())],
        [
          7,
          JSON.stringify({
            type: 'record',
            name: 'Adj',
            fields: [
              { name: 'sku', type: 'string' },
              { name: 'qty', type: 'int', default: 'abc' },
            ],
          }),
        ],
      ]),
    );
    const body = writer.toBuffer({ sku: 'A', qty: 3 });
    for (const readerSchema of [undefined, reader]) {
      registry.lookups.length = 0;
      const stage = createDecodeStage('avro', { registry, reader: readerSchema });
      for (let i = 0; i < 3; i++) {
        expect(await stage(sourceRecord({ value: wire(7, body) }))).toEqual({
          kind: 'quarantine',
          issues: [
            {
              code: 'decode.unparseable-schema',
              path: 'qty',
              message:
                'writer schema 7 cannot be parsed: incompatible field default "abc" (invalid "int": "abc")',
            },
          ],
        });
      }
      // The other schema still decodes; each ID was looked up once.
      expect(codeOf(await stage(sourceRecord({ value: wire(1, body) })))).toBe('pass');
      expect(registry.lookups).toEqual([7, 1]);
    }
  });

  it('throws — never quarantines — when the registry cannot be reached', async () => {
    const down: SchemaRegistryPort = {
      schemaById: () =>
        Promise.reject(
          new MembraneError('registry.unavailable', 'connection refused', { retriable: true }),
        ),
      register: () => Promise.reject(new Error('unused')),
    };
    const stage = createDecodeStage('avro', { registry: down, reader: undefined });
    await expect(
      stage(sourceRecord({ value: wire(1, writer.toBuffer({ sku: 'A', qty: 1 })) })),
    ).rejects.toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
    });
    // An outage is not remembered: the next record asks again.
    await expect(
      stage(sourceRecord({ value: wire(1, writer.toBuffer({ sku: 'A', qty: 1 })) })),
    ).rejects.toMatchObject({
      code: 'registry.unavailable',
      retriable: true,
    });
  });

  it('never throws on arbitrary bytes', async () => {
    const registry = new InMemorySchemaRegistry();
    await registry.register('adj-value', writer);
    const stage = createDecodeStage('avro', { registry, reader });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.boolean(), async (bytes, framed) => {
        const value = framed ? wire(1, Buffer.from(bytes)) : Buffer.from(bytes);
        const verdict = await stage(sourceRecord({ value }));
        return verdict.kind === 'pass' || verdict.kind === 'quarantine';
      }),
      { numRuns: 2000 },
    );
  });
});

describe('decode: plain Avro with a local schema', () => {
  it('decodes and detects truncation', async () => {
    const stage = createDecodeStage('avro-binary', {
      registry: new InMemorySchemaRegistry(),
      reader: writer,
    });
    const body = writer.toBuffer({ sku: 'ABC', qty: 1 });
    expect(await stage(sourceRecord({ value: body }))).toEqual({
      kind: 'pass',
      value: { sku: 'ABC', qty: 1 },
    });
    expect(codeOf(await stage(sourceRecord({ value: body.subarray(0, 2) })))).toBe(
      'decode.truncated',
    );
  });
});
