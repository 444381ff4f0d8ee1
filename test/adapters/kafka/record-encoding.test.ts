import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/**
 * membrane patches kafkajs's record encoder (patches/kafkajs+2.2.4.patch, applied by
 * patch-package on install): varints are written in place instead of through a Buffer each,
 * and a record's headers straight into the record instead of one zero-filled 512-byte
 * encoder per header. These tests pin that the patch is applied and that what it writes is
 * what the protocol says and what kafkajs's own decoder reads back.
 */
const require = createRequire(import.meta.url);

interface EncoderInstance {
  writeVarInt(value: number): EncoderInstance;
  writeUVarInt(value: number): EncoderInstance;
  readonly buffer: Buffer;
}
interface EncoderClass {
  new (size?: number): EncoderInstance;
  readonly prototype: EncoderInstance;
}
interface DecoderInstance {
  readVarInt(): number;
  offset: number;
}
type HeaderValue = string | Buffer;
interface RecordInput {
  key: Buffer | string | null;
  value: Buffer | null;
  headers: Record<string, HeaderValue | HeaderValue[]>;
  offsetDelta: number;
  timestampDelta: number;
}
interface DecodedRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
  offset: string;
  timestamp: string;
}

const Encoder = require('kafkajs/src/protocol/encoder') as EncoderClass;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => DecoderInstance;
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as (
  record: RecordInput,
) => EncoderInstance;
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  decoder: DecoderInstance,
  context: object,
) => DecodedRecord;

describe("kafkajs's record encoder, as patched", () => {
  it('is the patched one (patch-package ran on install)', () => {
    const source = Object.getOwnPropertyDescriptor(Encoder.prototype, 'writeUVarInt')?.value as
      ((value: number) => EncoderInstance) | undefined;
    expect(String(source), 'run `npm install` (its postinstall applies patches/)').not.toContain(
      'Buffer.from',
    );
    expect(String(encodeRecord)).not.toContain('headersArray.map(Header)');
  });

  it('writes zigzag varints as the Kafka protocol defines them', () => {
    const bytes = (value: number): number[] => [...new Encoder().writeVarInt(value).buffer];
    expect(bytes(0)).toEqual([0x00]);
    expect(bytes(-1)).toEqual([0x01]);
    expect(bytes(1)).toEqual([0x02]);
    expect(bytes(300)).toEqual([0xd8, 0x04]);
    expect(bytes(-2147483648)).toEqual([0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect([...new Encoder(1).writeUVarInt(2 ** 31).buffer]).toEqual([
      0x80, 0x80, 0x80, 0x80, 0x08,
    ]);
  });

  it('writes records that kafkajs decodes back to the same key, value, headers and position', () => {
    const bytes = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));
    const headerValue = fc.oneof(fc.string({ maxLength: 80 }), bytes);
    const record = fc.record({
      key: fc.oneof(fc.constant(null), bytes, fc.string({ maxLength: 40 })),
      value: fc.oneof(fc.constant(null), bytes),
      headers: fc.dictionary(
        // Names like `toString`, `constructor` and `__proto__` included: the patched decoder
        // makes every name an own property.
        fc.oneof(
          fc.string({ minLength: 1, maxLength: 30 }),
          fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty'),
        ),
        fc.oneof(headerValue, fc.array(headerValue, { minLength: 2, maxLength: 3 })),
        { maxKeys: 20 },
      ),
      offsetDelta: fc.nat({ max: 2 ** 31 - 1 }),
      timestampDelta: fc.nat({ max: 2 ** 40 }),
    });
    fc.assert(
      fc.property(record, (input) => {
        const encoded = encodeRecord(input).buffer;
        const decoder = new Decoder(encoded);
        const length = decoder.readVarInt();
        expect(length).toBe(encoded.length - decoder.offset);
        const decoded = decodeRecord(decoder, {
          firstOffset: '0',
          firstTimestamp: '0',
          magicByte: 2,
        });
        const asBuffer = (v: HeaderValue): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v));
        expect(decoded.key).toEqual(input.key === null ? null : asBuffer(input.key));
        expect(decoded.value).toEqual(input.value);
        expect(decoded.offset).toBe(String(input.offsetDelta));
        expect(decoded.timestamp).toBe(String(input.timestampDelta));
        const expected = Object.fromEntries(
          Object.entries(input.headers).map(([k, v]) => [
            k,
            Array.isArray(v) ? v.map(asBuffer) : asBuffer(v),
          ]),
        );
        expect(Object.getPrototypeOf(decoded.headers)).toBe(Object.prototype);
        expect(Object.keys(decoded.headers)).toEqual(Object.keys(expected));
        for (const name of Object.keys(expected))
          expect(Object.getOwnPropertyDescriptor(decoded.headers, name)?.value).toEqual(
            Object.getOwnPropertyDescriptor(expected, name)?.value,
          );
      }),
      { numRuns: 500, seed: 2026 },
    );
  });
});

/** Encodes one record and decodes it back with kafkajs's (patched) decoder. */
function roundTrip(headers: RecordInput['headers']): DecodedRecord {
  const encoded = encodeRecord({
    key: null,
    value: Buffer.from('{}'),
    headers,
    offsetDelta: 0,
    timestampDelta: 0,
  }).buffer;
  const decoder = new Decoder(encoded);
  decoder.readVarInt();
  return decodeRecord(decoder, { firstOffset: '0', firstTimestamp: '0', magicByte: 2 });
}

describe("kafkajs's record decoder, as patched", () => {
  it('is the patched one: headers folded in one pass, not a spread per header', () => {
    expect(
      String(decodeRecord),
      'run `npm install` (its postinstall applies patches/)',
    ).not.toContain('...obj');
  });

  it('reads 10,000 headers back, in order, each name once', () => {
    const headers: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) headers[`h${i}`] = `v${i}`;
    const decoded = roundTrip(headers);
    const names = Object.keys(decoded.headers);
    expect(names).toHaveLength(10_000);
    expect(names[0]).toBe('h0');
    expect(names[9_999]).toBe('h9999');
    expect(decoded.headers['h1234']).toEqual(Buffer.from('v1234'));
  });

  it('writes and reads a header without a value (null, as Kafka allows)', () => {
    const decoded = roundTrip({
      trace: null,
      many: [Buffer.from('a'), null],
    } as unknown as RecordInput['headers']);
    expect(decoded.headers['trace']).toBeNull();
    expect(decoded.headers['many']).toEqual([Buffer.from('a'), null]);
  });

  it('makes prototype names own properties and never links a prototype', () => {
    const headers = Object.create(null) as Record<string, HeaderValue | HeaderValue[]>;
    headers['__proto__'] = [Buffer.from('a'), Buffer.from('b')];
    headers['constructor'] = 'c';
    headers['toString'] = 'd';
    const decoded = roundTrip(headers);
    expect(Object.getPrototypeOf(decoded.headers)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(decoded.headers, '__proto__')?.value).toEqual([
      Buffer.from('a'),
      Buffer.from('b'),
    ]);
    expect(decoded.headers['constructor']).toEqual(Buffer.from('c'));
    expect(Object.getOwnPropertyDescriptor(decoded.headers, 'toString')?.value).toEqual(
      Buffer.from('d'),
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
