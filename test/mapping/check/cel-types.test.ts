import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  checkExpression,
  describeType,
  DYN,
  fromAvro,
  fromJsonSchema,
  INT,
  STRING,
  type CelType,
  type Scope,
} from '../../../src/mapping/check/cel-types.js';

const fieldsOf = (type: CelType): Record<string, string> =>
  type.kind === 'object'
    ? Object.fromEntries([...type.fields].map(([name, t]) => [name, describeType(t)]))
    : {};

const scope = (fields: Record<string, CelType>, closed = true): Scope => ({
  what: 'the record',
  fields: new Map(Object.entries(fields)),
  extras: new Map(),
  closed,
});

describe('CEL types from schemas', () => {
  it('reads an Avro record as decoded values look in CEL', () => {
    const type = fromAvro(
      avro.Type.forSchema({
        type: 'record',
        name: 'Order',
        fields: [
          { name: 'id', type: 'string' },
          { name: 'qty', type: 'long' },
          { name: 'price', type: 'double' },
          { name: 'paid', type: 'boolean' },
          { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } },
          { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A'] } },
          { name: 'note', type: ['null', 'string'], default: null },
          { name: 'tags', type: { type: 'map', values: 'string' } },
          { name: 'raw', type: 'bytes' },
        ],
      }),
    );
    expect(fieldsOf(type)).toEqual({
      id: 'string',
      qty: 'int',
      price: 'double',
      paid: 'bool',
      at: 'int',
      kind: 'string',
      note: 'string or null',
      tags: 'map<string, string>',
      raw: 'bytes',
    });
  });

  it('reads a JSON Schema: local $refs, nullable types, open objects as maps', () => {
    const type = fromJsonSchema({
      type: 'object',
      title: 'Contact',
      $defs: { address: { type: 'object', properties: { city: { type: 'string' } } } },
      properties: {
        id: { type: 'integer' },
        score: { type: 'number' },
        home: { $ref: '#/$defs/address' },
        note: { type: ['string', 'null'] },
        extra: { type: 'object', additionalProperties: { type: 'integer' } },
        either: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
      },
    });
    expect(fieldsOf(type)).toEqual({
      id: 'int',
      score: 'double',
      home: 'address',
      note: 'string or null',
      extra: 'map<string, int>',
      either: 'dyn',
    });
  });
});

describe('checkExpression', () => {
  it('gives the result type of a valid expression', () => {
    expect(checkExpression('size(name) + qty', scope({ name: STRING, qty: INT }), false)).toEqual({
      problems: [],
      type: 'int',
    });
  });

  it('lets any name through when the record is not known (an open scope)', () => {
    expect(checkExpression('whatever == 1', scope({}, false), true)).toEqual({
      problems: [],
      type: 'bool',
    });
  });

  it('reports each unknown name with its range in the expression', () => {
    expect(
      checkExpression('nam == "x" && qtyy > 1', scope({ name: STRING, qty: DYN }), true).problems,
    ).toEqual([
      {
        start: 0,
        end: 3,
        message: 'nam is not a field of the record',
        hint: 'did you mean name?',
      },
      {
        start: 14,
        end: 18,
        message: 'qtyy is not a field of the record',
        hint: 'did you mean qty?',
      },
    ]);
  });
});
