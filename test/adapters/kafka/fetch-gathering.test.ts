import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodingLimits,
  limitDecoding,
  registerCodecs,
} from '../../../src/adapters/kafka/codecs.js';
import {
  decodeMessages,
  Decoder,
  MiB,
  partitionBytes,
  wireBatch,
  wireRecord,
} from '../../support/kafka-wire.js';

/**
 * Found by a review (review11c), fixed in the kafkajs patch — two problems in how a fetch response's batches are gathered (kafkajs's
 * protocol/requests/fetch/v4/decodeMessages.js, patched for the fetch budget):
 *
 * 1. `records.push(...recordBatch.records)` passes every record of a batch as an argument: a
 *    batch of more than about 125,000 records overflows the stack (RangeError). A gzip batch of
 *    200,000 empty records is within every limit (MEMBRANE_MAX_BATCH_RECORDS defaults to
 *    1,000,000; it decompresses to 1.6 MB, under MEMBRANE_MAX_BATCH_BYTES) and takes 280 KB on
 *    the wire, yet the RangeError is thrown outside the stand-in's try (the batch itself decoded
 *    fine), is not a partial message, and so fails the whole fetch — every time it is fetched
 *    again: a poison pill at the transport.
 * 2. A refused batch is not charged to the fetch's budget (its decompressedBytes is 0), though a
 *    gzip batch is inflated up to MEMBRANE_MAX_BATCH_BYTES before zlib refuses it (about 190 ms
 *    for 64 MiB here). A response made only of such 65 KB batches (16 per 1 MiB partition, 160
 *    in kafkajs's default 10 MiB fetch) is decoded whole: every one of them inflated, one after
 *    the other, while nothing heartbeats.
 */
describe("kafkajs's decodeMessages (patched): a fetch response's batches gathered", () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('gathers a gzip batch of 200,000 empty records, within every limit (a spread of them overflowed the stack)', async () => {
    registerCodecs();
    limitDecoding({ maxRecordsPerBatch: 1_000_000, maxBatchBytes: 64 * MiB });
    const count = 200_000;
    const records = Buffer.concat(
      Array.from({ length: count }, (_, i) => wireRecord({ offsetDelta: i })),
    );
    expect(records.length).toBeLessThan(8 * MiB);
    const compressed = gzipSync(records, { level: 9 });
    // Under the broker's default max.message.bytes (1,048,588): any producer can write it.
    expect(compressed.length).toBeLessThan(1024 * 1024);

    // The same batch's records are fine on their own (fewer of them: no overflow).
    const few = 1_000;
    const fewRecords = gzipSync(
      Buffer.concat(Array.from({ length: few }, (_, i) => wireRecord({ offsetDelta: i }))),
    );
    const ok = await decodeMessages(
      new Decoder(partitionBytes(wireBatch(fewRecords, { first: 0, count: few }))),
    );
    expect(ok).toHaveLength(few);

    const all = await decodeMessages(
      new Decoder(partitionBytes(wireBatch(compressed, { first: 0, count: count }))),
    );
    expect(all).toHaveLength(count);
    expect(all.at(-1)?.offset).toBe(String(count - 1));
  });

  it('charges a refused compressed batch the whole budget: one fetch inflates no more than two of them', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 4 * MiB });
    // Each decompresses to just over the 4 MiB limit: inflated to 4 MiB, then refused.
    const bomb = gzipSync(wireRecord({ valueSize: 4 * MiB + 1024 }), { level: 9 });
    const n = 8;
    const batches = Buffer.concat(
      Array.from({ length: n }, (_, i) => wireBatch(bomb, { first: i, count: 1 })),
    );
    const response = new Decoder(partitionBytes(batches));
    const records = await decodeMessages(response);
    // The response's first batch (always decoded), refused and charged the budget: the rest
    // waits for the next fetches, one refused batch each.
    expect(records).toHaveLength(1);
    expect(records.every((r) => r.refusedBatch?.reason.includes('more than') === true)).toBe(true);
    expect(response.membraneDecompressedBytes).toBe(4 * MiB + 256); // and the stand-in record
    const next = await decodeMessages(
      new Decoder(
        partitionBytes(
          Buffer.concat(
            Array.from({ length: n - 1 }, (_, i) => wireBatch(bomb, { first: i + 1, count: 1 })),
          ),
        ),
      ),
    );
    expect(next.map((r) => r.offset)).toEqual(['1']);
  });
});
