import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodingLimits,
  limitDecoding,
  registerCodecs,
} from '../../../src/adapters/kafka/codecs.js';
import { checkEnvelope, DEFAULT_ENVELOPE_LIMITS } from '../../../src/pipeline/pipeline.js';
import { decodeBatch, Decoder, int32, wireBatch, wireRecord } from '../../support/kafka-wire.js';
import { sourceRecord } from '../../support/records.js';

/**
 * Found by a review (review11): membrane's header limits were checked after kafkajs had decoded
 * the whole fetched batch, and the broker bounds a batch by its compressed size only. A header
 * with an empty name and value takes 2 bytes before compression: a 61 KB gzip batch decoded to
 * one record with 31,457,280 headers (56 s of one synchronous loop, 3.1 GB heap); a 92 KB one
 * to 8,987,794 empty records (49 s, 1.65 GB). membrane's patch to kafkajs's record decoder
 * (patches/kafkajs+2.2.4.patch) keeps at most MEMBRANE_MAX_HEADERS + 1 headers of a record and
 * refuses a compressed batch declaring more than a million records.
 */
const require = createRequire(import.meta.url);

/** A record with `headers` headers, each with an empty name and an empty value. */
const record = (headers: number): Buffer => wireRecord({ headers });

/**
 * A gzip record batch of `records`, declaring `count` records, as a fetch carries it, from
 * offset `first`.
 */
const gzipBatch = (records: Buffer, count: number, first = 0): Buffer =>
  wireBatch(gzipSync(records, { level: 9 }), { count, first });

describe("kafkajs's record decoder, bounded (patched)", () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('keeps MEMBRANE_MAX_HEADERS + 1 headers of a flood, enough for the envelope check to quarantine it', async () => {
    registerCodecs();
    limitDecoding({ maxHeaders: DEFAULT_ENVELOPE_LIMITS.maxHeaders });
    const count = 2_000_000;
    const wire = gzipBatch(record(count), 1);
    expect(wire.length).toBeLessThan(16 * 1024);
    const decoded = await decodeBatch(new Decoder(wire));
    const headers = decoded.records[0]?.headers ?? {};
    expect((headers[''] as unknown[]).length).toBe(DEFAULT_ENVELOPE_LIMITS.maxHeaders + 1);
    const refused = checkEnvelope(
      sourceRecord({ headers: headers as never }),
      DEFAULT_ENVELOPE_LIMITS,
    );
    expect(refused?.code).toBe('trust.too-many-headers');
  });

  it('decodes every header of a record within the limit, and the records after a flood', async () => {
    registerCodecs();
    limitDecoding({ maxHeaders: 10 });
    const wire = gzipBatch(Buffer.concat([record(50), record(10), record(0)]), 3);
    const decoded = await decodeBatch(new Decoder(wire));
    expect(
      decoded.records.map((r) => ((r.headers[''] as unknown[] | undefined) ?? []).length),
    ).toEqual([11, 10, 0]);
  });

  it('refuses a compressed batch declaring more records than the limit, before decoding any: one record stands for it', async () => {
    registerCodecs();
    limitDecoding({ maxRecordsPerBatch: 1000 });
    const wire = gzipBatch(Buffer.concat(Array.from({ length: 1001 }, () => record(0))), 1001, 500);
    const decoded = await decodeBatch(new Decoder(wire));
    expect(decoded.records).toHaveLength(1);
    const [refused] = decoded.records;
    // At the batch's last offset, so committing past it commits past the batch.
    expect(refused?.offset).toBe('1500');
    expect(refused?.refusedBatch).toEqual({
      firstOffset: '500',
      lastOffset: '1500',
      compression: 1,
      reason: 'compressed batch refused: it declares 1001 records, more than 1000',
    });
    // Its value is the batch as stored, byte for byte: it decodes to the records it holds.
    expect(refused?.value?.equals(wire)).toBe(true);
    expect(refused?.key).toBeNull();
    expect(refused?.headers).toEqual({});
    limitDecoding({ maxRecordsPerBatch: 1001 });
    expect(
      (await decodeBatch(new Decoder(refused?.value ?? Buffer.alloc(0)))).records,
    ).toHaveLength(1001);
  });

  it('refuses a batch that decompresses to more than the limit, or whose bytes cannot be decoded', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 10_000 });
    const big = gzipBatch(Buffer.concat(Array.from({ length: 10 }, () => record(1000))), 10);
    const reasons: string[] = [];
    const once = async (wire: Buffer): Promise<void> => {
      const [only, ...rest] = (await decodeBatch(new Decoder(wire))).records;
      expect(rest).toEqual([]);
      expect(only?.value?.equals(wire)).toBe(true);
      reasons.push(only?.refusedBatch?.reason ?? 'decoded');
    };
    await once(big);
    // gzip of garbage, a codec ID Kafka does not define, and records cut short.
    await once(withRecords(big, Buffer.from('not gzip at all'), 1));
    await once(withAttributes(gzipBatch(record(0), 1), 5));
    const plain = withAttributes(gzipBatch(record(0), 1), 0);
    await once(withRecords(plain, Buffer.concat([int32(3), record(2).subarray(0, 4)]), 0));
    expect(reasons[0]).toBe('gzip batch refused: it decompresses to more than 10000 bytes');
    expect(reasons.slice(1)).not.toContain('decoded');
    expect(reasons).toHaveLength(4);
  });

  it('keeps the stand-in record in a fetch like any other: past the fetched offset, dropped when aborted', () => {
    const Batch = require('kafkajs/src/consumer/batch') as new (
      topic: string,
      fetchedOffset: string,
      data: unknown,
    ) => { messages: { offset: string }[] };
    const standIn = (producerId: string): unknown => ({
      offset: '1500',
      key: null,
      value: Buffer.alloc(0),
      headers: {},
      isControlRecord: false,
      batchContext: { firstOffset: '500', inTransaction: true, producerId },
      refusedBatch: { firstOffset: '500', lastOffset: '1500', compression: 1, reason: 'x' },
    });
    // Fetched from inside the batch (an earlier version committed part of it): still there.
    const kept = new Batch('t', '700', {
      partition: 0,
      highWatermark: '1502',
      abortedTransactions: [],
      messages: [standIn('7')],
    });
    expect(kept.messages.map((m) => m.offset)).toEqual(['1500']);
    const aborted = new Batch('t', '500', {
      partition: 0,
      highWatermark: '1502',
      abortedTransactions: [{ producerId: '7', firstOffset: '500' }],
      messages: [standIn('7')],
    });
    expect(aborted.messages).toEqual([]);
  });
});

/** Where a batch's attributes and records begin, in the bytes a fetch carries. */
const ATTRIBUTES_AT = 8 + 4 + 4 + 1 + 4;
const RECORDS_AT = ATTRIBUTES_AT + 2 + 4 + 8 + 8 + 8 + 2 + 4;

/** The same batch with other attributes (its compression codec in the low 3 bits). */
function withAttributes(wire: Buffer, attributes: number): Buffer {
  const copy = Buffer.from(wire);
  copy.writeInt16BE(attributes, ATTRIBUTES_AT);
  return copy;
}

/** The same batch header with `records` (count, then bytes, as written) after it. */
function withRecords(wire: Buffer, records: Buffer, count: number): Buffer {
  const body = Buffer.concat([
    wire.subarray(12, RECORDS_AT),
    count > 0 ? Buffer.concat([int32(count), records]) : records,
  ]);
  return Buffer.concat([wire.subarray(0, 8), int32(body.length), body]);
}
