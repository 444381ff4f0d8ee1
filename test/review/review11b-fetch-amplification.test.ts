import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodingLimits, registerCodecs } from '../../src/adapters/kafka/codecs.js';

/**
 * review11b: MEMBRANE_MAX_BATCH_BYTES bounds one batch, not one fetch. kafkajs decodes every
 * batch of a partition's fetch (up to 1 MiB of compressed bytes) before the consumer sees any,
 * and each decoded record's value is a slice of its batch's decompressed buffer, so all of
 * them stay alive together. Ordinary gzip batches (any client, `compression.type=gzip`) of one
 * record with a 64 MB value of zeros take about 65 KB each: 16 fit in one partition fetch, so
 * one fetch holds about 1 GiB. Against the real broker, 12 such batches (780 KB) took
 * `membrane run` to a 1.07 GB peak RSS — above the Helm chart's 768 Mi limit, and the same
 * fetch comes back after the restart. zstd (hand-made RLE blocks, accepted by the broker)
 * reaches about 30,000:1: 32 batches of 2 KB took membrane to 2.3 GB.
 *
 * This test pins today's behaviour (PROBLEM) at a size a test can afford: 8 gzip batches of
 * 8 MiB each, about 64 KB of fetch, hold 64 MiB once decoded.
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
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as (
  decoder: unknown,
) => Promise<{ value: Buffer | null; refusedBatch?: unknown }[]>;

const varint = (n: number): Buffer => new Encoder().writeVarInt(n).buffer;

/** One record: no key, a value of `size` zero bytes, no headers. */
function record(size: number): Buffer {
  const body = Buffer.concat([
    Buffer.from([0]),
    varint(0),
    varint(0),
    varint(-1),
    varint(size),
    Buffer.alloc(size),
    varint(0),
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/** A gzip record batch of one record, at offset `first`, as a fetch carries it. */
function gzipBatch(compressed: Buffer, first: number): Buffer {
  const body = new Encoder()
    .writeInt16(1)
    .writeInt32(0)
    .writeInt64(0)
    .writeInt64(0)
    .writeInt64(-1)
    .writeInt16(-1)
    .writeInt32(-1)
    .writeInt32(1)
    .writeBuffer(compressed);
  const batch = new Encoder().writeInt32(0).writeInt8(2).writeInt32(0).writeBuffer(body.buffer);
  return new Encoder().writeInt64(first).writeInt32(batch.buffer.length).writeBuffer(batch.buffer)
    .buffer;
}

describe('review11b: what one fetch may hold once decoded', () => {
  it('PROBLEM: every batch of a fetch is held decompressed at once, within the per-batch limit each', async () => {
    registerCodecs();
    const size = 8 * 1024 * 1024;
    expect(size).toBeLessThan(decodingLimits().maxBatchBytes);
    const compressed = gzipSync(record(size), { level: 9 });
    const batches = Buffer.concat(Array.from({ length: 8 }, (_, i) => gzipBatch(compressed, i)));
    const fetch = new Encoder().writeInt32(batches.length).writeBuffer(batches).buffer;
    expect(fetch.length).toBeLessThan(100 * 1024);

    const records = await decodeMessages(new Decoder(fetch));
    expect(records).toHaveLength(8);
    expect(records.filter((r) => r.refusedBatch !== undefined)).toEqual([]);
    // Each value is a view of its own decompressed batch: all eight stay alive together.
    const held = new Set(records.map((r) => r.value?.buffer));
    const bytes = [...held].reduce((sum, b) => sum + (b?.byteLength ?? 0), 0);
    expect(held.size).toBe(8);
    expect(bytes).toBeGreaterThanOrEqual(8 * size);
    expect(bytes / fetch.length).toBeGreaterThan(900);
  });
});
