import { describe, expect, it } from 'vitest';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
  quarantineBytes,
  SHORT_ISSUE_TEXT,
  type QuarantineEntry,
} from '../../../src/adapters/quarantine/codec.js';
import { cut, issue, type Issue } from '../../../src/core/issues.js';

/**
 * membrane's own issues header is bounded as a last resort: when the record does not fit its
 * topic even with the upstream value, key and headers cut away, the issues header keeps the
 * first issues that fit, shortened, and `membrane.quarantine.truncated` says so.
 */
const entry = (issues: readonly Issue[]): QuarantineEntry => ({
  source: { topic: 'erp.orders', partition: 0, offset: '7', timestamp: '0' },
  mapping: 'legacy-orders@3',
  stage: 'map',
  issues,
  id: undefined,
  quarantinedAt: '2026-11-30T00:00:00.000Z',
  attempt: 1,
});

// A path segment of 64 and a message of 1,024 characters, nearly all control characters: 6
// bytes each as JSON (\u0001).
const control = '\u0001'.repeat(2000);
const heavy = (i: number): Issue =>
  issue(i === 0 ? 'map.cast-failed' : 'map.invalid-type', `${i}.${control}`, `${i}: ${control}`);

/** The bytes of the issues header membrane writes for `issues` whole. */
const headerBytes = (issues: readonly Issue[]): number =>
  Buffer.byteLength(
    JSON.stringify(issues.map((i) => ({ code: i.code, path: i.path, message: i.message }))),
  );

describe('quarantine codec: membrane never builds a record its topic refuses because of its own headers', () => {
  it('keeps the whole issues header when the upstream parts make room', () => {
    const issues = [heavy(0), heavy(1)];
    const upstream = { key: null, value: Buffer.alloc(100_000, 0x61), headers: {} };
    const encoded = encodeQuarantine(upstream, entry(issues), 64 * 1024);
    expect(quarantineBytes(encoded)).toBeLessThanOrEqual(64 * 1024);
    const { entry: back } = decodeQuarantine(encoded);
    expect(back.issues).toEqual(issues);
    expect(back.truncated?.value?.bytes).toBe(100_000);
    expect(back.truncated?.issues).toBeUndefined();
  });

  it('cuts the issues header as a last resort: the first issues that fit, shortened, counted', () => {
    const issues = Array.from({ length: 100 }, (_, i) => heavy(i));
    const full = headerBytes(issues);
    expect(full).toBeGreaterThan(600_000);
    const upstream = {
      key: Buffer.from('order-7'),
      value: Buffer.alloc(10_000, 0x61),
      headers: { trace: 'abc' },
    };
    const max = 64 * 1024;
    const encoded = encodeQuarantine(upstream, entry(issues), max);
    expect(quarantineBytes(encoded)).toBeLessThanOrEqual(max);
    expect(encoded.value?.length).toBe(0);
    expect(encoded.key?.length).toBe(0);

    const { entry: back } = decodeQuarantine(encoded);
    const kept = back.truncated?.issues?.kept ?? 0;
    expect(back.truncated?.issues).toEqual({ count: 100, kept, bytes: full });
    // As many as fit in what is left of 64 KiB, not one more: each takes ~0.65 KB shortened.
    expect(kept).toBe(95);
    expect(back.issues).toEqual(
      issues.slice(0, kept).map((i) => ({
        code: i.code,
        path: cut(i.path, SHORT_ISSUE_TEXT),
        message: cut(i.message, SHORT_ISSUE_TEXT),
      })),
    );
    expect(back.issues[0]?.path).toBe(`0.${'\u0001'.repeat(51)}…(66 chars)`);
    expect(encoded.headers[QUARANTINE_HEADERS.code]).toBe('map.cast-failed');
    expect(back.truncated?.headers?.count).toBe(1);
  });

  it('keeps the first issue, shortened, whatever the budget', () => {
    const issues = [heavy(0), heavy(1)];
    const encoded = encodeQuarantine({ key: null, value: null, headers: {} }, entry(issues), 2048);
    expect(quarantineBytes(encoded)).toBeLessThanOrEqual(2048);
    const { entry: back } = decodeQuarantine(encoded);
    expect(back.issues).toHaveLength(1);
    expect(back.issues[0]?.code).toBe('map.cast-failed');
    expect(back.issues[0]?.message).toBe(`0: ${'\u0001'.repeat(48)}…(1024 chars)`);
    expect(back.truncated).toEqual({ issues: { count: 2, kept: 1, bytes: headerBytes(issues) } });
  });

  it('refuses a truncation header whose issues part is not what membrane writes', () => {
    const encoded = encodeQuarantine(
      { key: null, value: null, headers: {} },
      entry([heavy(0)]),
      Infinity,
    );
    const forged = {
      ...encoded,
      headers: {
        ...encoded.headers,
        [QUARANTINE_HEADERS.truncated]: JSON.stringify({
          issues: { count: -1, kept: 1, bytes: 2 },
        }),
      },
    };
    expect(() => decodeQuarantine(forged)).toThrow(/is not what membrane writes/);
  });
});
