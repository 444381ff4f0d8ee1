import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
  QuarantineFormatError,
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
});
