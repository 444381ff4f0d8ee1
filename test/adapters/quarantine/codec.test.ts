import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
  QuarantineFormatError,
  quarantineBytes,
  type QuarantineEntry,
} from '../../../src/adapters/quarantine/codec.js';

const entry: QuarantineEntry = {
  source: { topic: 'erp.orders', partition: 2, offset: '4711', timestamp: '1763800000000' },
  mapping: 'legacy-orders@3',
  stage: 'map',
  issues: [
    { code: 'map.cast-failed', path: 'line_items[1].qty', message: '"two" cannot be read as int' },
    { code: 'map.missing-field', path: 'customer_no', message: 'required field is missing' },
  ],
  id: '27318abc-670f-5f84-9387-3efb32ead95f',
  quarantinedAt: '2026-11-22T05:00:00.000Z',
  attempt: 1,
};

const withoutId: QuarantineEntry = {
  ...entry,
  id: undefined,
  stage: 'validate',
  issues: [
    {
      code: 'validate.invariant',
      path: '',
      message: 'an order must cost something',
      rule: 'positive-total',
    },
  ],
};

describe('the quarantine codec', () => {
  it('keeps key, value and headers byte for byte and adds the taxonomy', () => {
    const upstream = {
      key: Buffer.from('4711'),
      value: Buffer.from([0xff, 0x00, 0x7b]),
      headers: { 'x-signature': Buffer.from('abc') },
    };
    const message = encodeQuarantine(upstream, entry);
    expect(message.key).toBe(upstream.key);
    expect(message.value).toBe(upstream.value);
    expect(message.headers).toMatchObject({
      'x-signature': Buffer.from('abc'),
      [QUARANTINE_HEADERS.code]: 'map.cast-failed',
      [QUARANTINE_HEADERS.stage]: 'map',
      [QUARANTINE_HEADERS.topic]: 'erp.orders',
      [QUARANTINE_HEADERS.partition]: '2',
      [QUARANTINE_HEADERS.offset]: '4711',
      [QUARANTINE_HEADERS.mapping]: 'legacy-orders@3',
      [QUARANTINE_HEADERS.id]: entry.id,
      [QUARANTINE_HEADERS.attempt]: '1',
    });
    expect(JSON.parse(String(message.headers[QUARANTINE_HEADERS.issues]))).toEqual(entry.issues);
  });

  it('reads back what it wrote, whatever the upstream headers — even ones with our names', () => {
    const headerValue = fc.oneof(
      fc.string(),
      fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b)),
    );
    const names = fc.oneof(
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.constantFrom(...Object.values(QUARANTINE_HEADERS), '__proto__', 'constructor'),
    );
    fc.assert(
      fc.property(
        fc.dictionary(
          names,
          fc.oneof(headerValue, fc.array(headerValue, { minLength: 2, maxLength: 3 })),
        ),
        fc.option(
          fc.uint8Array({ maxLength: 20 }).map((b) => Buffer.from(b)),
          { nil: null },
        ),
        fc.constantFrom(entry, withoutId),
        (headers, value, written) => {
          const upstream = { key: null, value, headers };
          const decoded = decodeQuarantine(encodeQuarantine(upstream, written));
          expect(decoded.entry).toEqual(written);
          expect(decoded.upstream.value).toBe(value);
          expect(decoded.upstream.headers).toEqual(headers);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a record that is not a quarantine record', () => {
    expect(() => decodeQuarantine({ key: null, value: null, headers: {} })).toThrow(
      QuarantineFormatError,
    );
  });

  describe('a refused batch', () => {
    const refused: QuarantineEntry = {
      ...entry,
      stage: 'trust',
      issues: [{ code: 'trust.batch-refused', path: '', message: 'the gzip batch at offsets …' }],
      id: undefined,
      batch: { firstOffset: '4000', lastOffset: '4711', from: '4200' },
    };
    const upstream = { key: null, value: Buffer.from('batch bytes'), headers: {} };

    it('says which offsets the batch holds and from which one they were not processed', () => {
      const message = encodeQuarantine(upstream, refused);
      expect(message.headers[QUARANTINE_HEADERS.batch]).toBe(
        '{"firstOffset":"4000","lastOffset":"4711","from":"4200"}',
      );
      expect(decodeQuarantine(message).entry).toEqual(refused);
      const whole = { firstOffset: '4000', lastOffset: '4711' };
      expect(
        decodeQuarantine(encodeQuarantine(upstream, { ...refused, batch: whole })).entry.batch,
      ).toEqual(whole);
    });

    it('writes the header empty for any other record, so an upstream header of that name stays upstream', () => {
      const message = encodeQuarantine(
        { ...upstream, headers: { [QUARANTINE_HEADERS.batch]: 'x' } },
        entry,
      );
      const read = decodeQuarantine(message);
      expect(read.entry.batch).toBeUndefined();
      expect(read.upstream.headers).toEqual({ [QUARANTINE_HEADERS.batch]: 'x' });
    });

    it.each([
      ['not JSON', '{'],
      ['an array', '[]'],
      ['a number offset', '{"firstOffset":1,"lastOffset":"2"}'],
      ['a negative offset', '{"firstOffset":"-1","lastOffset":"2"}'],
      ['first after last', '{"firstOffset":"3","lastOffset":"2"}'],
      ['from at the first offset', '{"firstOffset":"1","lastOffset":"9","from":"1"}'],
      ['from past the last offset', '{"firstOffset":"1","lastOffset":"9","from":"10"}'],
    ])('refuses a batch header that is %s: the topic is writable by others', (_, text) => {
      const message = encodeQuarantine(upstream, refused);
      expect(() =>
        decodeQuarantine({
          ...message,
          headers: { ...message.headers, [QUARANTINE_HEADERS.batch]: text },
        }),
      ).toThrow(QuarantineFormatError);
    });
  });

  describe('a record larger than the quarantine topic takes', () => {
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const upstream = {
      key: Buffer.from('k'.repeat(300)),
      value: Buffer.alloc(50_000, 7),
      headers: { trace: 'abc', 'x-signature': Buffer.from('sig') },
    };

    it('is kept whole when it fits, with an empty truncation header', () => {
      const whole = encodeQuarantine(upstream, entry);
      const fitted = encodeQuarantine(upstream, entry, quarantineBytes(whole));
      expect(fitted.value).toBe(upstream.value);
      expect(fitted.headers[QUARANTINE_HEADERS.truncated]).toBe('');
      expect(decodeQuarantine(fitted).entry.truncated).toBeUndefined();
    });

    it('is cut value first, to fit, saying what it lost and its SHA-256', () => {
      const message = encodeQuarantine(upstream, entry, 20_000);
      expect(quarantineBytes(message)).toBeLessThanOrEqual(20_000);
      expect(message.key).toEqual(upstream.key);
      const { entry: read, upstream: kept } = decodeQuarantine(message);
      const cut = read.truncated?.value;
      expect(cut).toMatchObject({ bytes: 50_000, sha256: sha(upstream.value) });
      expect(kept.value).toEqual(upstream.value.subarray(0, cut?.kept));
      expect(read.truncated?.key).toBeUndefined();
      expect(kept.headers).toEqual(upstream.headers);
    });

    it('leaves a header flood out first, then cuts value and key only as far as needed', () => {
      const heavy = {
        key: Buffer.alloc(5_000, 1),
        value: Buffer.alloc(100, 2),
        headers: { big: 'h'.repeat(10_000), more: ['x', 'y'] },
      };
      const message = encodeQuarantine(heavy, entry, 3_000);
      expect(quarantineBytes(message)).toBeLessThanOrEqual(3_000);
      const { entry: read, upstream: kept } = decodeQuarantine(message);
      const frame = (part: string): Buffer => {
        const length = Buffer.alloc(4);
        length.writeInt32BE(Buffer.byteLength(part));
        return Buffer.concat([length, Buffer.from(part)]);
      };
      expect(read.truncated?.headers).toEqual({
        count: 3,
        bytes: 3 + 10_000 + 4 + 1 + 4 + 1,
        sha256: createHash('sha256')
          .update(
            Buffer.concat(
              ['big', 'h'.repeat(10_000), 'more', 'x', 'more', 'y'].map((part) => frame(part)),
            ),
          )
          .digest('hex'),
      });
      expect(read.truncated?.value).toEqual({ bytes: 100, kept: 0, sha256: sha(heavy.value) });
      const keyKept = read.truncated?.key?.kept ?? -1;
      expect(keyKept).toBeGreaterThan(0);
      expect(kept.key).toEqual(heavy.key.subarray(0, keyKept));
      expect(kept.headers).toEqual({});
      // Only the headers had to go: value and key are kept whole.
      const flood = {
        key: Buffer.from('k'),
        value: Buffer.alloc(10_000, 3),
        headers: { f: 'f'.repeat(30_000) },
      };
      const floodRead = decodeQuarantine(encodeQuarantine(flood, entry, 20_000));
      expect(floodRead.entry.truncated).toEqual({
        headers: expect.objectContaining({ count: 1, bytes: 30_001 }) as unknown,
      });
      expect(floodRead.upstream.value).toEqual(flood.value);
    });

    it('refuses a truncation header that is not what membrane writes', () => {
      const message = encodeQuarantine(upstream, entry, 20_000);
      for (const bad of [
        '{',
        '[]',
        '{"value":{"bytes":-1,"kept":0,"sha256":"00"}}',
        '{"key":{"bytes":1,"kept":0}}',
      ]) {
        expect(() =>
          decodeQuarantine({
            ...message,
            headers: { ...message.headers, [QUARANTINE_HEADERS.truncated]: bad },
          }),
        ).toThrow(QuarantineFormatError);
      }
    });

    it("always fits a budget that leaves room for membrane's own headers", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 20_000 }),
          fc.integer({ min: 0, max: 20_000 }),
          fc.integer({ min: 0, max: 20_000 }),
          fc.integer({ min: 4_000, max: 30_000 }),
          (keyBytes, valueBytes, headerBytes, budget) => {
            const record = {
              key: Buffer.alloc(keyBytes, 1),
              value: Buffer.alloc(valueBytes, 2),
              headers: { h: 'x'.repeat(headerBytes) },
            };
            const message = encodeQuarantine(record, entry, budget);
            expect(quarantineBytes(message)).toBeLessThanOrEqual(budget);
            const { entry: read, upstream: kept } = decodeQuarantine(message);
            // Whatever is kept is the original's beginning.
            expect(
              kept.value && record.value.subarray(0, kept.value.length).equals(kept.value),
            ).toBe(true);
            expect(kept.key && record.key.subarray(0, kept.key.length).equals(kept.key)).toBe(true);
            expect(read.truncated === undefined).toBe(
              quarantineBytes(encodeQuarantine(record, entry)) <= budget,
            );
          },
        ),
        { numRuns: 200 },
      );
    });
  });
});
