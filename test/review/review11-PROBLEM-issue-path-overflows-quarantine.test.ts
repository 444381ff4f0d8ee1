import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { encodeQuarantine, quarantineBytes } from '../../src/adapters/quarantine/codec.js';
import { decodeJson } from '../../src/pipeline/stages/decode.js';

/**
 * review11: an issue's path is built from upstream keys and never cut (only messages are cut
 * at 64 characters). A JSON value `{"<3 MB key>": {"__proto__": 1}}` is refused as
 * `decode.forbidden-key` with a 3 MB path; gzip makes it a ~3 KB batch, far under the input
 * topic's 1 MB. encodeQuarantine keeps membrane's own headers whole and cuts only upstream
 * parts, so the quarantine record stays larger than the quarantine topic takes (2 MiB by
 * default: the inputs' max.message.bytes + 1 MiB): the broker refuses it
 * (MESSAGE_TOO_LARGE, which membrane treats as fatal) and every restart meets the same
 * record. The same holds for `decode.too-deep` (the path of 64 keys) and for Avro map keys in
 * the guard's paths.
 */
const QUARANTINE_MAX = 2 * 1024 * 1024;

describe('review11 PROBLEM: an upstream key in an issue path makes the quarantine record too large', () => {
  it('PROBLEM: a forbidden key under a 3 MB key yields a quarantine record larger than the topic takes', () => {
    const key = 'k'.repeat(3 * 1024 * 1024);
    const value = Buffer.from(`{"${key}":{"__proto__":1}}`);
    expect(gzipSync(value).length).toBeLessThan(16 * 1024);
    const verdict = decodeJson(value);
    expect(verdict.kind).toBe('quarantine');
    const first = verdict.kind === 'quarantine' ? verdict.issues[0] : undefined;
    expect(first?.code).toBe('decode.forbidden-key');
    expect(first?.path.length).toBeGreaterThan(3 * 1024 * 1024);

    const encoded = encodeQuarantine(
      { key: null, value, headers: {} },
      {
        source: { topic: 'erp.orders', partition: 0, offset: '7', timestamp: '0' },
        mapping: 'legacy-orders@3',
        stage: 'decode',
        issues: verdict.kind === 'quarantine' ? verdict.issues : [],
        id: undefined,
        quarantinedAt: '2026-11-30T00:00:00.000Z',
        attempt: 1,
      },
      QUARANTINE_MAX,
    );
    // The upstream value was cut away entirely, yet the record is still over the limit.
    expect(encoded.value?.length).toBe(0);
    expect(quarantineBytes(encoded)).toBeGreaterThan(QUARANTINE_MAX);
  });

  it('PROBLEM: nesting 65 levels under 50 KB keys gives a decode.too-deep path of 3 MB', () => {
    const key = 'k'.repeat(50 * 1024);
    const value = Buffer.from(`${`{"${key}":`.repeat(65)}1${'}'.repeat(65)}`);
    const verdict = decodeJson(value);
    const first = verdict.kind === 'quarantine' ? verdict.issues[0] : undefined;
    expect(first?.code).toBe('decode.too-deep');
    expect(first?.path.length).toBeGreaterThan(3 * 1024 * 1024);
  });
});
