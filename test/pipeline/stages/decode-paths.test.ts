import { gzipSync } from 'node:zlib';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
  quarantineBytes,
} from '../../../src/adapters/quarantine/codec.js';
import { MAX_PATH, type Issue } from '../../../src/core/issues.js';
import type { Verdict } from '../../../src/core/verdict.js';
import type { SchemaRegistryPort } from '../../../src/pipeline/ports.js';
import {
  createDecodeStage,
  decodeJson,
  type DecodedRecord,
} from '../../../src/pipeline/stages/decode.js';
import { avroLong as long, avroString as str } from '../../support/avro.js';
import { sourceRecord } from '../../support/records.js';

/**
 * An issue's path is made of upstream keys; one key may be megabytes long while gzip makes its
 * record a few KB. The path is cut (64 characters a segment, 1 KiB the whole, marked with the
 * length cut away), so the quarantine record — which keeps membrane's own headers whole —
 * always fits the quarantine topic (2 MiB by default: the inputs' 1 MiB + 1 MiB).
 */
const QUARANTINE_MAX = 2 * 1024 * 1024;

const firstIssue = (verdict: Verdict<DecodedRecord>): Issue => {
  if (verdict.kind !== 'quarantine') throw new Error(`not quarantined: ${verdict.kind}`);
  return verdict.issues[0] as Issue;
};

const quarantined = (value: Buffer, issues: readonly Issue[]) =>
  encodeQuarantine(
    { key: null, value, headers: {} },
    {
      source: { topic: 'erp.orders', partition: 0, offset: '7', timestamp: '0' },
      mapping: 'legacy-orders@3',
      stage: 'decode',
      issues,
      id: undefined,
      quarantinedAt: '2026-11-30T00:00:00.000Z',
      attempt: 1,
    },
    QUARANTINE_MAX,
  );

const issuesHeaderBytes = (message: ReturnType<typeof quarantined>): number =>
  Buffer.byteLength(String(message.headers[QUARANTINE_HEADERS.issues]));

describe('decode: issue paths made of upstream keys are cut', () => {
  it('a forbidden key under a 3 MB key: the path is 64 characters of it, marked, and the record fits its topic', () => {
    const key = 'k'.repeat(3 * 1024 * 1024);
    const value = Buffer.from(`{"${key}":{"__proto__":1}}`);
    expect(gzipSync(value).length).toBeLessThan(16 * 1024);
    const first = firstIssue(decodeJson(value));
    expect(first).toEqual({
      code: 'decode.forbidden-key',
      path: `${'k'.repeat(48)}…(3145728 chars).__proto__`,
      message: 'key __proto__ is not allowed (prototype pollution)',
    });

    const encoded = quarantined(value, [first]);
    expect(quarantineBytes(encoded)).toBeLessThanOrEqual(QUARANTINE_MAX);
    expect(issuesHeaderBytes(encoded)).toBeLessThan(200);
    // The value is what was cut, as much as needed and no more; the issue is whole.
    expect(encoded.value?.length).toBeGreaterThan(QUARANTINE_MAX - 4096);
    const { entry } = decodeQuarantine(encoded);
    expect(entry.issues).toEqual([first]);
    expect(entry.truncated?.value?.bytes).toBe(value.length);
    expect(entry.truncated?.issues).toBeUndefined();
  });

  it('nesting 65 levels under 50 KB keys: each key cut to 64 characters, the path to 1 KiB', () => {
    const key = 'k'.repeat(50 * 1024);
    const value = Buffer.from(`${`{"${key}":`.repeat(65)}1${'}'.repeat(65)}`);
    const first = firstIssue(decodeJson(value));
    const segment = `${'k'.repeat(50)}…(51200 chars)`;
    expect(segment).toHaveLength(64);
    // The object at depth 65 is under 64 keys: 64 segments and 63 dots, 4,159 characters.
    const whole = Array.from({ length: 64 }, () => segment).join('.');
    expect(whole).toHaveLength(4159);
    expect(first).toEqual({
      code: 'decode.too-deep',
      path: `${whole.slice(0, MAX_PATH - 13)}…(4159 chars)`,
      message: 'nested deeper than 64 levels',
    });
    expect(first.path).toHaveLength(MAX_PATH);
    expect(quarantineBytes(quarantined(value, [first]))).toBeLessThanOrEqual(QUARANTINE_MAX);
  });

  it('keys of control characters: the issues header stays a few KB even as escaped JSON', () => {
    // Each \u0001 takes 6 bytes in the JSON of the issues header.
    const key = '\u0001'.repeat(200_000);
    const value = Buffer.from(JSON.stringify({ [key]: { a: { [key]: { constructor: 1 } } } }));
    const first = firstIssue(decodeJson(value));
    const segment = `${'\u0001'.repeat(49)}…(200000 chars)`;
    expect(first.path).toBe(`${segment}.a.${segment}.constructor`);
    expect(issuesHeaderBytes(quarantined(value, [first]))).toBeLessThan(2 * 1024);
  });
});

describe('decode: Avro paths made of map keys and writer-schema names are cut', () => {
  const port = (type: avro.Type): SchemaRegistryPort => ({
    schemaById: () => Promise.resolve(type),
    register: () => Promise.reject(new Error('unused')),
  });
  const wire = (body: Buffer): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), body]);

  it("a forbidden map key under a 1 MB map key: the guard's path is cut like a JSON one", async () => {
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      fields: [{ name: 'attrs', type: { type: 'map', values: { type: 'map', values: 'int' } } }],
    });
    const key = 'k'.repeat(1024 * 1024);
    // attrs: one entry <key> → { __proto__: 1 }
    const body = Buffer.concat([
      long(1),
      str(key),
      long(1),
      str('__proto__'),
      long(1),
      long(0),
      long(0),
    ]);
    const stage = createDecodeStage('avro', { registry: port(type), reader: undefined });
    const first = firstIssue(await stage(sourceRecord({ value: wire(body) })));
    expect(first).toEqual({
      code: 'decode.forbidden-key',
      path: `attrs.${'k'.repeat(48)}…(1048576 chars).__proto__`,
      message: 'key __proto__ is not allowed (prototype pollution)',
    });
  });

  it('a writer schema with a 100 KB field name over a forbidden one: the refusal path is cut', async () => {
    const name = `f${'x'.repeat(100 * 1024)}`;
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'R',
      fields: [
        {
          name,
          type: { type: 'record', name: 'In', fields: [{ name: 'prototype', type: 'int' }] },
        },
      ],
    });
    const stage = createDecodeStage('avro', { registry: port(type), reader: undefined });
    const first = firstIssue(await stage(sourceRecord({ value: wire(Buffer.from([2])) })));
    expect(first).toEqual({
      code: 'decode.forbidden-key',
      path: `f${'x'.repeat(48)}…(102401 chars).prototype`,
      message: 'writer schema 9 has a field prototype, which is not allowed (prototype pollution)',
    });
  });
});
