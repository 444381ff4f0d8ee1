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
import { avroLong, avroString } from '../../support/avro.js';

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

  it('refuses prototype keys whatever their spelling in the text', () => {
    const spellings = [
      '{"\\u005f_proto__":{"polluted":1}}',
      '{"__proto\\u005f_":{"polluted":1}}',
      '{"\\u005F\\u005Fproto\\u005F\\u005F":{"polluted":1}}',
      '{"a":[{"\\u0063onstructor":{"prototype":{"polluted":1}}}]}',
      '{"a":{"constructo\\u0072":1}}',
      '{"a":{"b":{"prototyp\\u0065":{"polluted":1}}}}',
      '{"\\u0070rototype":1}',
    ];
    const paths = [
      '__proto__',
      '__proto__',
      '__proto__',
      'a[0].constructor',
      'a.constructor',
      'a.b.prototype',
      'prototype',
    ];
    spellings.forEach((text, i) => {
      expect(decodeJson(Buffer.from(text)), text).toMatchObject({
        kind: 'quarantine',
        issues: [{ code: 'decode.forbidden-key', path: paths[i] }],
      });
    });
    // Near misses are keys like any other.
    expect(codeOf(decodeJson(Buffer.from('{"__proto":1,"_proto__":2,"Constructor":3}')))).toBe(
      'pass',
    );
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

  it('quarantines, never throws, when a writer schema makes the guard or the resolver throw', async () => {
    // A field type that is a function: what avsc built for a type named toString (4de7f96).
    const odd = avro.Type.forSchema(
      { type: 'record', name: 'Adj', fields: [{ name: 'a', type: 'toString' }] },
      { registry: {} },
    );
    const lookups: number[] = [];
    const registry: SchemaRegistryPort = {
      schemaById: (id) => {
        lookups.push(id);
        return Promise.resolve(odd);
      },
      register: () => Promise.reject(new Error('unused')),
    };
    for (const withReader of [undefined, reader]) {
      lookups.length = 0;
      const stage = createDecodeStage('avro', { registry, reader: withReader });
      for (let n = 0; n < 2; n++) {
        expect(await stage(sourceRecord({ value: wire(70, Buffer.from([2])) }))).toEqual({
          kind: 'quarantine',
          issues: [
            {
              code: 'decode.unparseable-schema',
              path: '',
              message:
                "writer schema 70 cannot be checked: TypeError: Cannot read properties of undefined (reading 'startsWith')",
            },
          ],
        });
      }
      // Remembered per ID, like every refused writer schema.
      expect(lookups).toEqual([70]);
    }
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

const schemaText = (fields: Record<string, unknown>, name = 'Hostile'): string =>
  JSON.stringify({
    type: 'record',
    name,
    fields: Object.entries(fields).map(([field, type]) => ({ name: field, type })),
  });

/** The writer schemas a hostile producer registered, by ID. */
const hostile = new Map<number, string>([
  [1, schemaText({ lines: { type: 'array', items: 'null' } })],
  [2, schemaText({ sku: 'string', lines: { type: 'array', items: 'int' } })],
  [3, schemaText({ sku: 'string', attrs: { type: 'map', values: 'string' } })],
  [4, schemaText({ v: 'int', next: ['null', 'Node'] }, 'Node')],
  // A computed key: a literal `__proto__:` would set the object's prototype instead.
  [
    5,
    schemaText({
      sku: 'string',
      ['__proto__']: {
        type: 'record',
        name: 'Polluting',
        fields: [{ name: 'polluted', type: 'string' }],
      },
    }),
  ],
  [
    6,
    schemaText({
      rows: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Row',
          fields: [
            { name: 'n', type: 'int' },
            ...Array.from({ length: 200 }, (_, i) => ({ name: `z${i}`, type: 'null' })),
          ],
        },
      },
    }),
  ],
  [
    7,
    schemaText({
      sku: 'string',
      lines: { type: 'array', items: { type: 'fixed', name: 'None', size: 0 } },
    }),
  ],
]);

/** A reader of `sku` only: writers' other fields are skipped by avsc, not read. */
const skuReader = avro.Type.forSchema({
  type: 'record',
  name: 'Hostile',
  fields: [{ name: 'sku', type: 'string' }],
});

describe('decode: hostile Avro', () => {
  const stageFor = (reader?: avro.Type) => {
    const registry = new TextSchemaRegistry(hostile);
    return { registry, stage: createDecodeStage('avro', { registry, reader }) };
  };

  it('refuses an array of zero-size items at first sight of the schema, once per ID (the 10-byte bomb)', async () => {
    const { registry, stage } = stageFor();
    for (const count of [5_000_000, 50_000_000]) {
      const value = wire(1, Buffer.concat([avroLong(count), Buffer.from([0])]));
      expect(value.length).toBeLessThanOrEqual(10);
      expect(await stage(sourceRecord({ value }))).toEqual({
        kind: 'quarantine',
        issues: [
          {
            code: 'decode.zero-size-items',
            path: 'lines',
            message:
              'writer schema 1 has an array of null items, which take no bytes: a block count alone could make any number of them',
          },
        ],
      });
    }
    expect(registry.lookups).toEqual([1]);
    // fixed of size 0 too.
    const fixed = wire(7, Buffer.concat([avroString('A'), avroLong(9), Buffer.from([0])]));
    expect(codeOf(await stage(sourceRecord({ value: fixed })))).toBe('decode.zero-size-items');
  });

  it('checks block counts against the bytes left, for arrays and maps, positive or negative', async () => {
    for (const reader of [undefined, skuReader]) {
      const { stage } = stageFor(reader);
      const cases: [Buffer, string, string][] = [
        // 50,000,000 ints claimed, 1 byte left: avsc would loop 50,000,000 times first.
        [
          wire(2, Buffer.concat([avroString('A'), avroLong(50_000_000), Buffer.from([0])])),
          'decode.block-count',
          'lines',
        ],
        [
          wire(
            2,
            Buffer.concat([
              avroString('A'),
              avroLong(-50_000_000),
              avroLong(1),
              Buffer.from([0, 0]),
            ]),
          ),
          'decode.block-count',
          'lines',
        ],
        [
          wire(3, Buffer.concat([avroString('A'), avroLong(2 ** 40), Buffer.from([0, 0])])),
          'decode.block-count',
          'attrs',
        ],
        // Honest blocks pass, negative ones too.
        [
          wire(2, Buffer.concat([avroString('A'), avroLong(2), Buffer.from([2, 4, 0])])),
          'pass',
          '',
        ],
        [
          wire(
            2,
            Buffer.concat([avroString('A'), avroLong(-2), avroLong(2), Buffer.from([2, 4, 0])]),
          ),
          'pass',
          '',
        ],
        // A negative block whose size is not its items': avsc's read and skip would disagree.
        [
          wire(
            2,
            Buffer.concat([avroString('A'), avroLong(-2), avroLong(3), Buffer.from([2, 4, 0])]),
          ),
          'decode.invalid-avro',
          'lines',
        ],
      ];
      for (const [value, code, path] of cases) {
        const verdict = await stage(sourceRecord({ value }));
        expect(codeOf(verdict), `${value.toString('hex')} ${String(reader)}`).toBe(code);
        if (verdict.kind === 'quarantine') expect(verdict.issues[0]?.path).toBe(path);
      }
    }
  });

  it('bounds the nesting of recursive schemas at 64 levels', async () => {
    const { stage } = stageFor();
    const list = (n: number): Buffer =>
      Buffer.concat([
        ...Array.from({ length: n - 1 }, () => Buffer.from([2, 2])), // v = 1, next: branch 1
        Buffer.from([2, 0]), // v = 1, next: null
      ]);
    expect(codeOf(await stage(sourceRecord({ value: wire(4, list(64)) })))).toBe('pass');
    expect(codeOf(await stage(sourceRecord({ value: wire(4, list(65)) })))).toBe('decode.too-deep');
    // 100,000 levels in 200 KB: refused at level 65, without recursing further.
    expect(codeOf(await stage(sourceRecord({ value: wire(4, list(100_000)) })))).toBe(
      'decode.too-deep',
    );
  });

  it('refuses prototype keys in maps, and writer schemas with prototype field names', async () => {
    const { stage } = stageFor();
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const body = Buffer.concat([
        avroString('A'),
        avroLong(2),
        avroString('ok'),
        avroString('x'),
        avroString(key),
        avroString('{"polluted":1}'),
        Buffer.from([0]),
      ]);
      expect(await stage(sourceRecord({ value: wire(3, body) }))).toEqual({
        kind: 'quarantine',
        issues: [
          {
            code: 'decode.forbidden-key',
            path: `attrs.${key}`,
            message: `key ${key} is not allowed (prototype pollution)`,
          },
        ],
      });
    }
    const body = Buffer.concat([avroString('A'), avroString('polluted')]);
    expect(await stage(sourceRecord({ value: wire(5, body) }))).toEqual({
      kind: 'quarantine',
      issues: [
        {
          code: 'decode.forbidden-key',
          path: '__proto__',
          message:
            'writer schema 5 has a field __proto__, which is not allowed (prototype pollution)',
        },
      ],
    });
  });

  it('refuses records of one-byte items carrying hundreds of zero-size fields', async () => {
    const { stage } = stageFor();
    const rows = (count: number): Buffer =>
      wire(6, Buffer.concat([avroLong(count), Buffer.alloc(count), Buffer.from([0])]));
    expect(codeOf(await stage(sourceRecord({ value: rows(10) })))).toBe('pass');
    expect(codeOf(await stage(sourceRecord({ value: rows(10_000) })))).toBe(
      'decode.too-many-values',
    );
  });

  it('refuses a local schema that could be amplified, or a reader with prototype names, at startup', () => {
    const registry = new InMemorySchemaRegistry();
    const bomb = avro.Type.forSchema(JSON.parse(hostile.get(1) ?? '') as avro.Schema);
    expect(() => createDecodeStage('avro-binary', { registry, reader: bomb })).toThrow(
      'the avro-binary schema at lines has an array of null items, which take no bytes: a block count alone could make any number of them (decode.zero-size-items)',
    );
    const proto = avro.Type.forSchema(JSON.parse(hostile.get(5) ?? '') as avro.Schema);
    expect(() => createDecodeStage('avro', { registry, reader: proto })).toThrow(
      'the reader schema at __proto__ has a field __proto__, which is not allowed (prototype pollution) (decode.forbidden-key)',
    );
  });

  it('guards avro-binary bodies the same way', async () => {
    const local = avro.Type.forSchema(JSON.parse(hostile.get(2) ?? '') as avro.Schema);
    const stage = createDecodeStage('avro-binary', {
      registry: new InMemorySchemaRegistry(),
      reader: local,
    });
    const bomb = Buffer.concat([avroString('A'), avroLong(50_000_000), Buffer.from([0])]);
    expect(codeOf(await stage(sourceRecord({ value: bomb })))).toBe('decode.block-count');
    expect(
      await stage(sourceRecord({ value: local.toBuffer({ sku: 'A', lines: [1, 2] }) })),
    ).toEqual({ kind: 'pass', value: { sku: 'A', lines: [1, 2] } });
  });
});

describe('decode: nothing decoded gets or gives a prototype', () => {
  it('leaves Object.prototype alone and returns only plain objects, after every hostile input', async () => {
    const jsonInputs = [
      '{"__proto__":{"polluted":1}}',
      '{"\\u005f_proto__":{"polluted":1}}',
      '{"a":{"\\u0063onstructor":{"prototype":{"polluted":1}}}}',
      '{"hasOwnProperty":1,"toString":"x","valueOf":{},"__proto":{"polluted":1},"_proto__":[]}',
    ];
    const decoded: unknown[] = [];
    for (const text of jsonInputs) {
      const verdict = decodeJson(Buffer.from(text));
      if (verdict.kind === 'pass') decoded.push(verdict.value);
    }
    const { stage } = {
      stage: createDecodeStage('avro', {
        registry: new TextSchemaRegistry(hostile),
        reader: undefined,
      }),
    };
    const mapOf = (entries: [string, string][]): Buffer =>
      wire(
        3,
        Buffer.concat([
          avroString('A'),
          avroLong(entries.length),
          ...entries.flatMap(([key, value]) => [avroString(key), avroString(value)]),
          Buffer.from([0]),
        ]),
      );
    const avroInputs = [
      mapOf([['__proto__', 'polluted']]),
      // A map of records: avsc would make the record the map's prototype.
      wire(
        8,
        Buffer.concat([
          avroString('A'),
          avroLong(1),
          avroString('__proto__'),
          avroString('yes'),
          Buffer.from([0]),
        ]),
      ),
      mapOf([['constructor', 'x']]),
      mapOf([
        ['hasOwnProperty', 'x'],
        ['toString', 'y'],
        ['__proto', 'z'],
        ['polluted', 'w'],
      ]),
      wire(5, Buffer.concat([avroString('A'), avroString('polluted')])),
      wire(4, Buffer.from([2, 2, 2, 0])),
    ];
    for (const value of avroInputs) {
      const verdict = await stage(sourceRecord({ value }));
      if (verdict.kind === 'pass') decoded.push(verdict.value);
    }
    expect(decoded).toHaveLength(3);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    const stack = [...decoded];
    while (stack.length > 0) {
      const value = stack.pop();
      if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) continue;
      const prototype: unknown = Object.getPrototypeOf(value);
      expect(prototype === Object.prototype || prototype === Array.prototype).toBe(true);
      // No own prototype key either, for a later stage to copy by assignment.
      for (const key of ['__proto__', 'constructor', 'prototype'])
        expect(Object.prototype.hasOwnProperty.call(value, key), key).toBe(false);
      stack.push(...Object.values(value as Record<string, unknown>));
    }
  });
});
