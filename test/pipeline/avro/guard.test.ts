import fc from 'fast-check';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { Issue } from '../../../src/core/issues.js';
import {
  compileAvroGuard,
  MAX_VALUES_PER_BYTE,
  readerSchemaRefusal,
  VALUES_ALLOWANCE,
  type AvroGuard,
  type SchemaRefusal,
} from '../../../src/pipeline/avro/guard.js';
import { avroLong as long, avroString as str } from '../../support/avro.js';

const MAX_DEPTH = 64;
const typeOf = (schema: unknown): avro.Type => avro.Type.forSchema(schema as avro.Schema);

function guardOf(schema: unknown): AvroGuard {
  const guard = compileAvroGuard(typeOf(schema), MAX_DEPTH);
  if ('code' in guard) throw new Error(`refused: ${guard.code} ${guard.path} ${guard.message}`);
  return guard;
}

function refusalOf(schema: unknown): SchemaRefusal | AvroGuard {
  return compileAvroGuard(typeOf(schema), MAX_DEPTH);
}

const bytes = (...parts: (Buffer | number[])[]): Buffer =>
  Buffer.concat(parts.map((part) => (Buffer.isBuffer(part) ? part : Buffer.from(part))));

const record = (fields: Record<string, unknown>, name = 'R'): unknown => ({
  type: 'record',
  name,
  fields: Object.entries(fields).map(([field, type]) => ({ name: field, type })),
});

describe('Avro guard: block counts', () => {
  const ints = record({ lines: { type: 'array', items: 'int' } });

  it('refuses a block count the bytes left cannot hold, before looping over it', () => {
    const guard = guardOf(ints);
    for (const count of [4, 5_000_000, 2 ** 40, 2 ** 62]) {
      expect(guard.check(bytes(long(count), [2, 4], [0]), 0)).toMatchObject({
        code: 'decode.block-count',
        path: 'lines',
      });
    }
    // Exactly as many items as bytes: fine.
    expect(guard.check(bytes(long(2), [2, 4], [0]), 0)).toBeUndefined();
  });

  it('checks counts against the fewest bytes an item takes', () => {
    const doubles = guardOf(record({ xs: { type: 'array', items: 'double' } }));
    // Two doubles need 16 bytes; 15 are left after the count.
    expect(doubles.check(bytes(long(2), Buffer.alloc(15)), 0)).toMatchObject({
      code: 'decode.block-count',
      path: 'xs',
    });
    expect(doubles.check(bytes(long(2), Buffer.alloc(16), [0]), 0)).toBeUndefined();
    // A map entry is at least a key byte plus its value.
    const maps = guardOf(record({ attrs: { type: 'map', values: 'long' } }));
    expect(maps.check(bytes(long(2), str(''), [0], [0]), 0)).toMatchObject({
      code: 'decode.block-count',
      path: 'attrs',
    });
    expect(maps.check(bytes(long(2), str(''), [0], str(''), [0], [0]), 0)).toBeUndefined();
  });

  it('checks negative counts (with a byte size) too, and that the size is the items’', () => {
    const guard = guardOf(ints);
    expect(guard.check(bytes(long(-5_000_000), long(2), [2, 4], [0]), 0)).toMatchObject({
      code: 'decode.block-count',
      path: 'lines',
    });
    expect(guard.check(bytes(long(-2), long(2), [2, 4], [0]), 0)).toBeUndefined();
    expect(guard.check(bytes(long(-2), long(3), [2, 4], [0]), 0)).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'lines',
    });
    expect(guard.check(bytes(long(-2), long(-1), [2, 4], [0]), 0)).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'lines',
    });
  });

  it('gives the path of the item a problem is in', () => {
    const guard = guardOf(
      record({
        lines: {
          type: 'array',
          items: record({ sku: 'string', tags: { type: 'map', values: 'string' } }, 'Line'),
        },
      }),
    );
    // Line 1's tags: one entry "k" whose value claims 9 bytes with 1 left.
    const body = bytes(long(2), str('a'), [0], str('b'), long(1), str('k'), long(9), [0x61]);
    expect(guard.check(body, 0)).toMatchObject({
      code: 'decode.truncated',
      path: 'lines[1].tags.k',
    });
  });
});

describe('Avro guard: zero-size items', () => {
  it('refuses arrays of items that take no bytes, naming the field', () => {
    const cases: [unknown, string][] = [
      ['null', 'lines'],
      [{ type: 'fixed', name: 'Empty', size: 0 }, 'lines'],
      [record({}, 'Nothing'), 'lines'],
      [record({ a: 'null', b: record({ c: 'null' }, 'Inner') }, 'Nulls'), 'lines'],
      [{ type: 'array', items: 'null' }, 'lines[]'],
    ];
    for (const [items, path] of cases) {
      expect(refusalOf(record({ lines: { type: 'array', items } }))).toMatchObject({
        code: 'decode.zero-size-items',
        path,
      });
    }
    expect(
      refusalOf(record({ a: record({ b: { type: 'array', items: 'null' } }, 'Deep') })),
    ).toMatchObject({ code: 'decode.zero-size-items', path: 'a.b' });
  });

  it('accepts items of at least one byte: a one-symbol enum takes one (its index)', () => {
    const oneSymbol = { type: 'enum', name: 'Only', symbols: ['A'] };
    expect(typeOf(oneSymbol).toBuffer('A')).toEqual(Buffer.from([0]));
    const schema = record({
      a: { type: 'array', items: oneSymbol },
      b: { type: 'array', items: ['null', 'int'] },
      c: { type: 'array', items: { type: 'fixed', name: 'One', size: 1 } },
      d: { type: 'map', values: 'null' }, // a map entry has a key
      e: { type: 'array', items: { type: 'array', items: 'int' } },
    });
    const type = typeOf(schema);
    const value = {
      a: ['A', 'A'],
      b: [null, 1],
      c: [Buffer.from([7])],
      d: { x: null },
      e: [[], [1]],
    };
    expect(guardOf(schema).check(type.toBuffer(value), 0)).toBeUndefined();
  });
});

describe('Avro guard: nesting', () => {
  const list = record({ v: 'int', next: ['null', 'Node'] }, 'Node');
  const listOf = (n: number): unknown => {
    let value: unknown = null;
    for (let i = 0; i < n; i++) value = { v: i, next: value };
    return value;
  };

  it('bounds recursive schemas at 64 levels, as JSON', () => {
    const guard = guardOf(list);
    const type = typeOf(list);
    expect(guard.check(type.toBuffer(listOf(64)), 0)).toBeUndefined();
    const refused = guard.check(type.toBuffer(listOf(65)), 0);
    expect(refused).toMatchObject({ code: 'decode.too-deep' });
    expect(refused?.path).toBe(Array.from({ length: 64 }, () => 'next').join('.'));
  });

  it('counts arrays, maps and wrapped union branches as levels', () => {
    const tree = record(
      { children: { type: 'array', items: 'Tree' }, tags: { type: 'map', values: 'Tree' } },
      'Tree',
    );
    const guard = guardOf(tree);
    // Each level: a record in an array, i.e. two levels per tree level.
    const nested = (n: number): Buffer =>
      n === 0 ? bytes([0], [0]) : bytes(long(1), nested(n - 1), [0], [0]);
    expect(guard.check(nested(31), 0)).toBeUndefined(); // 63 levels
    expect(guard.check(nested(32), 0)).toMatchObject({ code: 'decode.too-deep' }); // 65
    // ['int', 'long'] is wrapped by avsc ({ "int": 1 }): the wrapper is a level too.
    const wrapped = record({ u: ['int', 'long', 'W'] }, 'W');
    const wrappedGuard = guardOf(wrapped);
    const chain = (n: number): Buffer =>
      n === 0 ? bytes(long(0), long(1)) : bytes(long(2), chain(n - 1));
    expect(wrappedGuard.check(chain(31), 0)).toBeUndefined(); // 1 + 2 × 31 + 1 = 64
    expect(wrappedGuard.check(chain(32), 0)).toMatchObject({ code: 'decode.too-deep' });
  });

  it('counts the levels of zero-size records it does not read', () => {
    let deep: unknown = 'null';
    for (let i = 0; i < 70; i++) deep = record({ inner: deep }, `Z${i}`);
    const guard = guardOf(record({ n: 'int', deep }));
    expect(guard.check(Buffer.from([2]), 0)).toMatchObject({
      code: 'decode.too-deep',
      path: 'deep',
    });
  });

  it('refuses a schema nested deeper than 1,000 levels without overflowing the stack', () => {
    let deep: unknown = 'int';
    for (let i = 0; i < 1500; i++) deep = { type: 'array', items: deep };
    expect(refusalOf(record({ deep }))).toMatchObject({ code: 'decode.too-deep' });
  });
});

describe('Avro guard: prototype keys', () => {
  const attrs = record({ attrs: { type: 'map', values: 'string' } });

  it('refuses map keys __proto__, constructor and prototype, with their path', () => {
    const guard = guardOf(attrs);
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const body = bytes(long(2), str('ok'), str('x'), str(key), str('y'), [0]);
      expect(guard.check(body, 0)).toEqual({
        code: 'decode.forbidden-key',
        path: `attrs.${key}`,
        message: `key ${key} is not allowed (prototype pollution)`,
      });
    }
    for (const key of ['__proto', 'proto', '__proto___', 'Constructor', 'toString', '']) {
      expect(guard.check(bytes(long(1), str(key), str('y'), [0]), 0)).toBeUndefined();
    }
  });

  it('refuses writer schemas with such field or type names, at compile time', () => {
    // avsc itself refuses `constructor` and `__proto__` as type names (its registry is an
    // object); `prototype` it accepts, and would set `this.prototype` in a wrapped union.
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      expect(refusalOf(record({ ok: 'int', inner: record({ [name]: 'string' }, 'In') }))).toEqual({
        code: 'decode.forbidden-key',
        path: `inner.${name}`,
        message: `has a field ${name}, which is not allowed (prototype pollution)`,
      });
    }
    expect(
      refusalOf(
        record({ u: ['int', 'long', { type: 'enum', name: 'prototype', symbols: ['A'] }] }),
      ),
    ).toMatchObject({ code: 'decode.forbidden-key', path: 'u' });
    expect(readerSchemaRefusal(typeOf(record({ ['__proto__']: 'int' })))).toMatchObject({
      code: 'decode.forbidden-key',
      path: '__proto__',
    });
    expect(readerSchemaRefusal(typeOf(attrs))).toBeUndefined();
  });
});

describe('Avro guard: writer schemas shaped like nothing it expects', () => {
  it('refuses, never throws, when compiling throws: a field type that is a function', () => {
    // What avsc built for a type named toString looked up in a plain {} (before 4de7f96): the
    // field's type is Object.prototype.toString.
    const type = avro.Type.forSchema(
      { type: 'record', name: 'R', fields: [{ name: 'a', type: 'toString' }] },
      { registry: {} },
    );
    expect(typeof (type as unknown as { fields: { type: unknown }[] }).fields[0]?.type).toBe(
      'function',
    );
    expect(compileAvroGuard(type, MAX_DEPTH)).toEqual({
      code: 'decode.unparseable-schema',
      path: '',
      message:
        "cannot be checked: TypeError: Cannot read properties of undefined (reading 'startsWith')",
    });
  });

  it('refuses whatever is thrown, an Error or not', () => {
    const hostile = {
      typeName: 'record',
      get fields(): never {
        // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a hostile getter may do
        throw 'not an Error';
      },
    } as unknown as avro.Type;
    expect(compileAvroGuard(hostile, MAX_DEPTH)).toEqual({
      code: 'decode.unparseable-schema',
      path: '',
      message: 'cannot be checked: a thrown string',
    });
  });
});

describe('Avro guard: values per byte', () => {
  const wide = record({
    rows: {
      type: 'array',
      items: record(
        Object.fromEntries([
          ['n', 'int'],
          ...Array.from({ length: 100 }, (_, i): [string, string] => [`z${i}`, 'null']),
        ]),
        'Row',
      ),
    },
  });
  const rows = (count: number): Buffer =>
    count === 0 ? Buffer.from([0]) : bytes(long(count), Buffer.alloc(count), [0]);

  it('refuses items of one byte that carry hundreds of zero-size fields, in numbers', () => {
    const guard = guardOf(wide);
    expect(guard.check(rows(30), 0)).toBeUndefined();
    const refused = guard.check(rows(1000), 0);
    expect(refused).toMatchObject({ code: 'decode.too-many-values', path: '' });
    // 1 record + 1 field + 1,000 rows of 101 fields each.
    expect(refused?.message).toContain('102002 values');
  });

  it('never refuses a body of values of at least one byte each', () => {
    const guard = guardOf(record({ xs: { type: 'array', items: 'boolean' } }));
    const count = 100_000;
    const body = bytes(long(count), Buffer.alloc(count), [0]);
    expect(count + 2).toBeLessThan(MAX_VALUES_PER_BYTE * body.length + VALUES_ALLOWANCE);
    expect(guard.check(body, 0)).toBeUndefined();
  });
});

describe('Avro guard: schemas that bound their bodies themselves', () => {
  it('skips the check when no bytes can make a body cost more than its schema', () => {
    const bounded = (schema: unknown): boolean => guardOf(schema).bounded;
    expect(
      bounded(
        record({
          id: 'string',
          qty: 'int',
          at: 'long',
          lot: ['null', 'string'],
          u: ['int', 'long'],
          inner: record({ e: { type: 'enum', name: 'E', symbols: ['A'] }, n: 'null' }, 'In'),
        }),
      ),
    ).toBe(true);
    // The bytes decide how much: arrays, maps, recursion.
    expect(bounded(record({ xs: { type: 'array', items: 'int' } }))).toBe(false);
    expect(bounded(record({ m: ['null', { type: 'map', values: 'int' }] }))).toBe(false);
    expect(bounded(record({ v: 'int', next: ['null', 'Node'] }, 'Node'))).toBe(false);
    // Bounded, but beyond the limits.
    let deep: unknown = 'int';
    for (let i = 0; i < 64; i++) deep = record({ inner: deep }, `D${i}`);
    expect(bounded(deep)).toBe(true);
    expect(bounded(record({ deep }, 'Deeper'))).toBe(false);
    const wide = (n: number): unknown =>
      record(Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 'null'])), 'Wide');
    expect(bounded(wide(VALUES_ALLOWANCE - 1))).toBe(true);
    expect(bounded(wide(VALUES_ALLOWANCE))).toBe(false);
  });

  it('still checks the bodies of a schema without recursion nested deeper than 64 levels', () => {
    let deep: unknown = ['null', 'int'];
    for (let i = 0; i < 70; i++) deep = record({ inner: deep }, `D${i}`);
    const guard = guardOf(deep);
    // Every level is read; the check refuses at level 65.
    expect(guard.check(Buffer.from([0]), 0)).toMatchObject({ code: 'decode.too-deep' });
  });
});

describe('Avro guard: the rest of the encoding, as avsc reads it', () => {
  it('checks union and enum indexes, lengths and what is left over', () => {
    const guard = guardOf(
      record({
        u: ['null', 'string'],
        e: { type: 'enum', name: 'E', symbols: ['A', 'B'] },
        b: 'bytes',
        f: { type: 'fixed', name: 'F', size: 2 },
      }),
    );
    const ok = bytes(long(1), str('x'), long(1), long(1), [9], [1, 2]);
    expect(guard.check(ok, 0)).toBeUndefined();
    const check = (body: Buffer): Issue | undefined => guard.check(body, 0);
    expect(check(bytes(long(2), str('x'), long(1), long(1), [9], [1, 2]))).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'u',
    });
    expect(check(bytes(long(-1), str('x'), long(1), long(1), [9], [1, 2]))).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'u',
    });
    expect(check(bytes(long(1), str('x'), long(2), long(1), [9], [1, 2]))).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'e',
    });
    expect(check(bytes(long(1), str('x'), long(1), long(-1), [9], [1, 2]))).toMatchObject({
      code: 'decode.invalid-avro',
      path: 'b',
    });
    expect(check(bytes(long(1), str('x'), long(1), long(1), [9], [1]))).toMatchObject({
      code: 'decode.truncated',
      path: 'f',
    });
    expect(check(bytes(ok, [0]))).toMatchObject({ code: 'decode.invalid-avro', path: '' });
    // The offset: a Confluent header before the body is not read.
    expect(guard.check(bytes([0, 0, 0, 0, 1], ok), 5)).toBeUndefined();
  });

  it('reads logical types as their underlying type', () => {
    class DateType extends avro.types.LogicalType {
      override _fromValue(value: unknown): Date {
        return new Date(value as number);
      }
      override _toValue(date: unknown): number | undefined {
        return date instanceof Date ? +date : undefined;
      }
      override _resolve(type: avro.Type): ((value: unknown) => unknown) | undefined {
        return avro.Type.isType(type, 'long', 'logical:timestamp-millis')
          ? (value: unknown) => this._fromValue(value)
          : undefined;
      }
    }
    const type = avro.Type.forSchema(
      record({ at: { type: 'long', logicalType: 'timestamp-millis' }, n: 'int' }) as avro.Schema,
      { logicalTypes: { 'timestamp-millis': DateType } },
    );
    const guard = compileAvroGuard(type, MAX_DEPTH) as AvroGuard;
    const body = type.toBuffer({ at: new Date(1782900000000), n: 1 });
    expect(guard.check(body, 0)).toBeUndefined();
    expect(guard.check(body.subarray(0, 3), 0)).toMatchObject({ code: 'decode.truncated' });
  });
});

// ---------------------------------------------------------------------------------------
// Consistency with avsc, on random schemas: the guard passes every body avsc writes, and
// avsc reads every body the guard passes — as the writer schema, and resolved to a reader
// schema that skips some of the writer's fields.

type Schema = unknown;

const PRIMITIVES = ['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'];

const schemaArbitrary: fc.Arbitrary<Schema> = fc.letrec<{ type: Schema; plain: Schema }>((tie) => ({
  plain: fc.oneof(
    { depthSize: 'small', maxDepth: 5, depthIdentifier: 'schema', withCrossShrink: true },
    fc.constantFrom(...PRIMITIVES),
    fc.integer({ min: 1, max: 3 }).map((n) => ({
      type: 'enum',
      name: '?',
      symbols: ['A', 'B', 'C'].slice(0, n),
    })),
    fc.integer({ min: 0, max: 3 }).map((size) => ({ type: 'fixed', name: '?', size })),
    tie('type').map((items) => ({ type: 'array', items })),
    tie('type').map((values) => ({ type: 'map', values })),
    fc.array(tie('type'), { maxLength: 4 }).map((types) => ({
      type: 'record',
      name: '?',
      fields: types.map((type, i) => ({ name: `f${i}`, type })),
    })),
  ),
  type: fc.oneof(
    { depthSize: 'small', maxDepth: 5, depthIdentifier: 'schema' },
    tie('plain'),
    // Unions: branches of distinct kinds ('int' and 'long' together make avsc wrap it).
    fc
      .uniqueArray(fc.constantFrom('null', 'int', 'long', 'string', 'double'), {
        minLength: 1,
        maxLength: 3,
      })
      .chain((branches) =>
        fc
          .option(
            tie('plain').filter(
              (t) =>
                typeof t === 'object' && t !== null && (t as { type: string }).type === 'record',
            ),
            { nil: undefined },
          )
          .map((extra) => (extra === undefined ? branches : [...branches, extra])),
      ),
  ),
})).plain;

/** Unique names for the named types of a generated schema. */
function named(schema: Schema): Schema {
  let counter = 0;
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (node === null || typeof node !== 'object') return node;
    const copy: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) copy[key] = walk(value);
    if (copy['name'] === '?') copy['name'] = `N${counter++}`;
    return copy;
  };
  return walk(schema);
}

interface Generated {
  readonly schema: unknown;
  readonly type: avro.Type;
  /** Reads field y only: avsc skips field x (its _skip, not its _read). */
  readonly reader: avro.Type;
  readonly resolver: unknown;
}

/** A record of two fields of the same random type; the types avsc refuses are left out. */
const generated: fc.Arbitrary<Generated> = schemaArbitrary
  .map((inner): Generated | undefined => {
    const schema = named({
      type: 'record',
      name: 'Top',
      fields: [
        { name: 'x', type: inner },
        { name: 'y', type: inner === 'null' ? 'int' : inner },
      ],
    }) as { fields: unknown[] };
    try {
      const type = typeOf(schema);
      const reader = typeOf({ type: 'record', name: 'Top', fields: [schema.fields[1]] });
      return { schema, type, reader, resolver: reader.createResolver(type) };
    } catch {
      return undefined;
    }
  })
  .filter((g): g is Generated => g !== undefined);

type Mutation =
  | { readonly kind: 'cut'; readonly at: number }
  | { readonly kind: 'append'; readonly extra: Uint8Array }
  | { readonly kind: 'set'; readonly changes: readonly [number, number][] };

/**
 * A small random value of an avsc type, from a seed (avsc's own `random` is unseeded), and
 * an encoding of it as another writer may make it: arrays and maps cut into several blocks,
 * some with a negative count and their size in bytes (avsc always writes one block).
 */
function valueOf(type: avro.Type, seed: number): { value: unknown; blocked: Buffer } {
  let state = seed >>> 0 || 1;
  const next = (n: number): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
  interface Shape {
    typeName: string;
    symbols: string[];
    size: number;
    itemsType: avro.Type;
    valuesType: avro.Type;
    types: avro.Type[];
    fields: { name: string; type: avro.Type }[];
    branchName: string;
  }
  const blocks = (entries: Buffer[]): Buffer => {
    const parts: Buffer[] = [];
    for (let i = 0; i < entries.length;) {
      const count = 1 + next(entries.length - i);
      const items = Buffer.concat(entries.slice(i, i + count));
      parts.push(next(2) === 1 ? bytes(long(-count), long(items.length)) : long(count), items);
      i += count;
    }
    return Buffer.concat([...parts, Buffer.from([0])]);
  };
  const make = (t: avro.Type): { value: unknown; blocked: Buffer } => {
    const shape = t as unknown as Shape;
    const leaf = (value: unknown): { value: unknown; blocked: Buffer } => ({
      value,
      blocked: t.toBuffer(value),
    });
    switch (shape.typeName) {
      case 'null':
        return leaf(null);
      case 'boolean':
        return leaf(next(2) === 1);
      case 'int':
        return leaf(next(2000) - 1000);
      case 'long':
        return leaf((next(2 ** 30) - 2 ** 29) * (next(2) === 1 ? 2 ** 20 : 1));
      case 'float':
      case 'double':
        return leaf(next(1000) / 8);
      case 'bytes':
        return leaf(Buffer.alloc(next(4), next(256)));
      case 'string':
        return leaf('ab€'.slice(0, next(4)));
      case 'enum':
        return leaf(shape.symbols[next(shape.symbols.length)]);
      case 'fixed':
        return leaf(Buffer.alloc(shape.size, next(256)));
      case 'array': {
        const items = Array.from({ length: next(5) }, () => make(shape.itemsType));
        return {
          value: items.map((item) => item.value),
          blocked: blocks(items.map((item) => item.blocked)),
        };
      }
      case 'map': {
        const entries = Array.from({ length: next(5) }, (_, i) => ({
          key: `k${i}`,
          ...make(shape.valuesType),
        }));
        return {
          value: Object.fromEntries(entries.map((entry) => [entry.key, entry.value])),
          blocked: blocks(entries.map((entry) => bytes(str(entry.key), entry.blocked))),
        };
      }
      case 'record': {
        const fields = shape.fields.map((field) => ({ name: field.name, ...make(field.type) }));
        return {
          value: Object.fromEntries(fields.map((field) => [field.name, field.value])),
          blocked: Buffer.concat(fields.map((field) => field.blocked)),
        };
      }
      case 'union:unwrapped':
      case 'union:wrapped': {
        const index = next(shape.types.length);
        const branch = shape.types[index] as avro.Type;
        const { value, blocked } = make(branch);
        const wrapped =
          shape.typeName === 'union:wrapped' && value !== null
            ? { [(branch as unknown as Shape).branchName]: value }
            : value;
        return { value: wrapped, blocked: bytes(long(index), blocked) };
      }
      default:
        throw new Error(`no values for ${shape.typeName}`);
    }
  };
  return make(type);
}

/** Bytes a producer might send instead: cut, extended, or with bytes changed. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('append' as const),
    extra: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    changes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
  }),
);

function mutate(body: Buffer, m: Mutation): Buffer {
  if (m.kind === 'cut') return body.subarray(0, body.length === 0 ? 0 : m.at % body.length);
  if (m.kind === 'append') return Buffer.concat([body, Buffer.from(m.extra)]);
  const copy = Buffer.from(body);
  if (copy.length === 0) return copy;
  for (const [at, value] of m.changes) copy[at % copy.length] = value;
  return copy;
}

/**
 * Whether avsc reads a body in full. A long beyond 2^53 it refuses ('potential precision
 * loss') is not the guard's business: the guard reads it as bytes.
 */
function avscReads(
  type: avro.Type,
  body: Buffer,
  resolver?: unknown,
): 'ok' | 'refused' | 'precision' {
  try {
    const { offset } = type.decode(body, 0, resolver as Parameters<avro.Type['decode']>[2]);
    return offset === body.length ? 'ok' : 'refused';
  } catch (error) {
    return (error as Error).message === 'potential precision loss' ? 'precision' : 'refused';
  }
}

describe('Avro guard: consistent with avsc (random schemas)', () => {
  it('passes every body avsc writes, and those of writers that cut arrays and maps into blocks', () => {
    fc.assert(
      fc.property(generated, fc.integer(), ({ type, reader, resolver }, seed) => {
        const guard = compileAvroGuard(type, MAX_DEPTH);
        if ('code' in guard) return guard.code === 'decode.zero-size-items';
        const { value, blocked } = valueOf(type, seed);
        const body = type.toBuffer(value);
        expect(guard.check(body, 0)).toBeUndefined();
        // The blocked encoding: the guard passes it, avsc reads the same value from it and
        // skips it as a whole.
        expect(guard.check(blocked, 0)).toBeUndefined();
        expect(type.toBuffer(type.fromBuffer(blocked))).toEqual(body);
        expect(avscReads(reader, blocked, resolver)).toBe('ok');
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it('passes only bodies avsc reads in full, with the writer schema or resolved to a reader', () => {
    // (Only the bodies the guard passes go to avsc: the others may hold a block count avsc
    // would loop over for minutes, or abort the process growing an array for.)
    fc.assert(
      fc.property(
        generated,
        fc.integer(),
        fc.boolean(),
        mutation,
        ({ type, reader, resolver }, seed, cut, m) => {
          const guard = compileAvroGuard(type, MAX_DEPTH);
          if ('code' in guard) return true;
          const { value, blocked } = valueOf(type, seed);
          const body = mutate(cut ? blocked : type.toBuffer(value), m);
          if (guard.check(body, 0) !== undefined) return true;
          expect(avscReads(type, body)).toMatch(/^(ok|precision)$/);
          expect(avscReads(reader, body, resolver)).toMatch(/^(ok|precision)$/);
          return true;
        },
      ),
      { numRuns: 1000 },
    );
  });
});
