import { afterEach, describe, expect, it } from 'vitest';
import { decodingLimits, limitDecoding } from '../../../src/adapters/kafka/codecs.js';
import { decodeStoredBatch } from '../../../src/adapters/kafka/record-batch.js';
import { storedBatch } from '../../support/stored-batch.js';

const GZIP = 1;
const records = Array.from({ length: 5 }, (_, n) => ({
  key: n === 2 ? null : Buffer.from(`k-${n}`),
  value: n === 3 ? null : Buffer.from(`{"n":${n}}`),
  headers: { 'x-seq': Buffer.from(String(n)) },
}));

describe('a stored record batch, decoded', () => {
  const before = decodingLimits();
  afterEach(() => {
    limitDecoding(before);
  });

  it('gives back every record as its producer sent it, at its own offset and time', async () => {
    const bytes = await storedBatch(records, {
      first: 40,
      timestamp: 1_700_000_000_000,
      compression: GZIP,
    });
    const decoded = await decodeStoredBatch(bytes);
    expect(decoded.kind).toBe('records');
    if (decoded.kind !== 'records') return;
    expect(decoded.records.map((r) => r.offset)).toEqual(['40', '41', '42', '43', '44']);
    expect(decoded.records.map((r) => r.timestamp)).toEqual(
      records.map((_, n) => String(1_700_000_000_000 + n)),
    );
    expect(decoded.records.map((r) => r.key?.toString() ?? null)).toEqual([
      'k-0',
      'k-1',
      null,
      'k-3',
      'k-4',
    ]);
    expect(decoded.records.map((r) => r.value?.toString() ?? null)).toEqual([
      '{"n":0}',
      '{"n":1}',
      '{"n":2}',
      null,
      '{"n":4}',
    ]);
    expect(decoded.records.map((r) => String(r.headers['x-seq']))).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
    ]);
  });

  it('is refused, saying why, beyond the limits in force, and decoded once they are raised', async () => {
    const bytes = await storedBatch(records, { first: 0, timestamp: 0, compression: GZIP });
    limitDecoding({ maxRecordsPerBatch: 4 });
    const refused = await decodeStoredBatch(bytes);
    expect(refused).toEqual({
      kind: 'refused',
      reason: expect.stringMatching(/5 records, more than 4/) as unknown,
    });
    limitDecoding({ maxRecordsPerBatch: 5 });
    expect((await decodeStoredBatch(bytes)).kind).toBe('records');
  });

  it('is refused when its bytes are not a whole batch: cut short, or garbage', async () => {
    const bytes = await storedBatch(records, { first: 0, timestamp: 0, compression: GZIP });
    for (const broken of [
      bytes.subarray(0, bytes.length - 3),
      bytes.subarray(0, 20),
      Buffer.alloc(0),
    ])
      expect((await decodeStoredBatch(broken)).kind).toBe('refused');
    const garbage = Buffer.from(bytes);
    garbage.fill(0x55, 61); // the gzip stream after the batch header
    expect((await decodeStoredBatch(garbage)).kind).toBe('refused');
  });
});
