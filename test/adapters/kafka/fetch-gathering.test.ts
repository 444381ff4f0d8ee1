import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodingLimits,
  limitDecoding,
  registerCodecs,
} from '../../../src/adapters/kafka/codecs.js';

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
const require = createRequire(import.meta.url);
interface Coder {
  readonly buffer: Buffer;
  writeVarInt(n: number): Coder;
  writeInt8(n: number): Coder;
  writeInt16(n: number): Coder;
  writeInt32(n: number): Coder;
  writeInt64(n: number): Coder;
  writeBuffer(b: Buffer): Coder;
}
const Encoder = require('kafkajs/src/protocol/encoder') as new () => Coder;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => {
  membraneDecompressedBytes?: number;
};
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as (
  decoder: unknown,
) => Promise<{ offset: string; value: Buffer | null; refusedBatch?: { reason: string } }[]>;

const MiB = 1024 * 1024;
const varint = (n: number): Buffer => new Encoder().writeVarInt(n).buffer;

/** One record at `offsetDelta`: no key, a value of `size` zero bytes (null when -1), no headers. */
function record(offsetDelta: number, size: number): Buffer {
  const body = Buffer.concat([
    Buffer.from([0]),
    varint(0),
    varint(offsetDelta),
    varint(-1),
    varint(size),
    size > 0 ? Buffer.alloc(size) : Buffer.alloc(0),
    varint(0),
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/** A gzip record batch of `count` records (already gzipped), at offset `first`. */
function gzipBatch(compressed: Buffer, first: number, count: number): Buffer {
  const body = new Encoder()
    .writeInt16(1)
    .writeInt32(count - 1)
    .writeInt64(0)
    .writeInt64(0)
    .writeInt64(-1)
    .writeInt16(-1)
    .writeInt32(-1)
    .writeInt32(count)
    .writeBuffer(compressed);
  const batch = new Encoder().writeInt32(0).writeInt8(2).writeInt32(0).writeBuffer(body.buffer);
  return new Encoder().writeInt64(first).writeInt32(batch.buffer.length).writeBuffer(batch.buffer)
    .buffer;
}

const partitionBytes = (batches: Buffer): Buffer =>
  new Encoder().writeInt32(batches.length).writeBuffer(batches).buffer;

describe("kafkajs's decodeMessages (patched): a fetch response's batches gathered", () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('gathers a gzip batch of 200,000 empty records, within every limit (a spread of them overflowed the stack)', async () => {
    registerCodecs();
    limitDecoding({ maxRecordsPerBatch: 1_000_000, maxBatchBytes: 64 * MiB });
    const count = 200_000;
    const records = Buffer.concat(Array.from({ length: count }, (_, i) => record(i, -1)));
    expect(records.length).toBeLessThan(8 * MiB);
    const compressed = gzipSync(records, { level: 9 });
    // Under the broker's default max.message.bytes (1,048,588): any producer can write it.
    expect(compressed.length).toBeLessThan(1024 * 1024);

    // The same batch's records are fine on their own (fewer of them: no overflow).
    const few = 1_000;
    const fewRecords = gzipSync(
      Buffer.concat(Array.from({ length: few }, (_, i) => record(i, -1))),
    );
    const ok = await decodeMessages(new Decoder(partitionBytes(gzipBatch(fewRecords, 0, few))));
    expect(ok).toHaveLength(few);

    const all = await decodeMessages(new Decoder(partitionBytes(gzipBatch(compressed, 0, count))));
    expect(all).toHaveLength(count);
    expect(all.at(-1)?.offset).toBe(String(count - 1));
  });

  it('charges a refused compressed batch the whole budget: one fetch inflates no more than two of them', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 4 * MiB });
    // Each decompresses to just over the 4 MiB limit: inflated to 4 MiB, then refused.
    const bomb = gzipSync(record(0, 4 * MiB + 1024), { level: 9 });
    const n = 8;
    const batches = Buffer.concat(Array.from({ length: n }, (_, i) => gzipBatch(bomb, i, 1)));
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
          Buffer.concat(Array.from({ length: n - 1 }, (_, i) => gzipBatch(bomb, i + 1, 1))),
        ),
      ),
    );
    expect(next.map((r) => r.offset)).toEqual(['1']);
  });
});
