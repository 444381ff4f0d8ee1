import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
  quarantineBytes,
  type QuarantineEntry,
} from '../../../src/adapters/quarantine/codec.js';
import type { Headers } from '../../../src/core/records.js';

/**
 * Review finding (review11): Kafka allows a header without a value, kafkajs reads it as `null`
 * (src/core/records.ts says so), and any producer can send one (Java: `new RecordHeader(name,
 * null)`). Since the truncation change, `encodeQuarantine` measures every quarantine record
 * with `quarantineBytes`, which reads `.length` of each header value: a quarantined record
 * carrying such a header threw a TypeError, the task failed as `runtime.bug` (fatal) and
 * membrane stopped — again on every restart, at the same record.
 */
const entry: QuarantineEntry = {
  source: { topic: 'erp.orders', partition: 0, offset: '7', timestamp: '1763800000000' },
  mapping: 'legacy-orders@3',
  stage: 'trust',
  issues: [{ code: 'trust.source-not-allowed', path: 'headers', message: 'no source header' }],
  id: undefined,
  quarantinedAt: '2026-11-30T03:00:00.000Z',
  attempt: 1,
};

// As kafkajs hands them over: a lone null, and a null among repeated values.
const headers = { 'x-empty': null, 'x-repeated': ['a', null, 'b'] } as unknown as Headers;

describe('a quarantined record with a header that has no value (null)', () => {
  it('is quarantined byte for byte, and read back with the header still null', () => {
    const value = Buffer.from('{"order_id":"o-1"}');
    const message = encodeQuarantine({ key: Buffer.from('o-1'), value, headers }, entry);
    const { entry: read, upstream } = decodeQuarantine(message);
    expect(read).toEqual(entry);
    expect(upstream.value).toEqual(value);
    expect(upstream.headers['x-empty']).toBeNull();
    expect(upstream.headers['x-repeated']).toEqual(['a', null, 'b']);
  });

  it('fits the quarantine topic when it must be cut, its headers counted and hashed', () => {
    const value = Buffer.alloc(50_000, 1);
    const message = encodeQuarantine({ key: null, value, headers }, entry, 20_000);
    expect(quarantineBytes(message)).toBeLessThanOrEqual(20_000);
    const { entry: read } = decodeQuarantine(message);
    expect(read.truncated?.value).toMatchObject({
      bytes: 50_000,
      sha256: createHash('sha256').update(value).digest('hex'),
    });
    expect(message.headers[QUARANTINE_HEADERS.truncated]).not.toBe('');
  });

  it('can have its upstream headers left out, nulls included, when nothing else is left to cut', () => {
    const big = { ...headers, 'x-big': Buffer.alloc(30_000) } as unknown as Headers;
    const message = encodeQuarantine({ key: null, value: null, headers: big }, entry, 5_000);
    expect(quarantineBytes(message)).toBeLessThanOrEqual(5_000);
    expect(decodeQuarantine(message).entry.truncated?.headers?.count).toBe(5);
  });
});
