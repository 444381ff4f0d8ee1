import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { registerCodecs } from '../../src/adapters/kafka/codecs.js';
import { checkEnvelope, DEFAULT_ENVELOPE_LIMITS } from '../../src/pipeline/pipeline.js';
import { sourceRecord } from '../support/records.js';

/**
 * review11: membrane's header limits (MEMBRANE_MAX_HEADERS, default 1,000) are checked after
 * kafkajs has decoded the whole fetched batch. The broker bounds a batch by its *compressed*
 * size, and a header with an empty name and value takes 2 bytes before compression, so a
 * gzip batch of a few KB carries hundreds of thousands of headers, each a string key and a
 * Buffer object in kafkajs's synchronous decode loop. Measured with the same decoder
 * (node on kafkajs's RecordBatch decoder, 60 MiB decompressed, 61 KB gzip, one record):
 * 31,457,280 headers, 56 s wall / 32 s CPU of one synchronous loop, 3.1 GB heap — and a
 * 1 MiB partition fetch holds ~16 such batches (heap limit 4 GB: out of memory). The local
 * broker (Kafka 3.9.1) accepted that 61 KB batch.
 *
 * Here, at a small scale: 200,000 headers from a ~1 KB batch are all decoded before membrane
 * can count them.
 */
const require = createRequire(import.meta.url);
type Coder = { buffer: Buffer } & Record<string, (...args: unknown[]) => Coder>;
const Encoder = require('kafkajs/src/protocol/encoder') as new () => Coder;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{ records: { headers: Record<string, unknown> }[] }>;

const varint = (n: number): Buffer => new Encoder().writeVarInt(n).buffer;

describe('review11 PROBLEM: a compressed header flood is decoded in full before the envelope limits', () => {
  it('PROBLEM: a ~1 KB gzip batch decodes to 200,000 headers before MEMBRANE_MAX_HEADERS applies', async () => {
    registerCodecs();
    const count = 200_000;
    const body = Buffer.concat([
      Buffer.from([0]), // attributes
      varint(0), // timestamp delta
      varint(0), // offset delta
      varint(-1), // key: null
      varint(-1), // value: null
      varint(count),
      Buffer.alloc(count * 2), // every header: name "" (length 0), value of length 0
    ]);
    const records = Buffer.concat([varint(body.length), body]);
    const compressed = gzipSync(records, { level: 9 });
    const now = Date.now();
    const batchBody = new Encoder()
      .writeInt16(1) // gzip
      .writeInt32(0) // last offset delta
      .writeInt64(now)
      .writeInt64(now)
      .writeInt64(-1)
      .writeInt16(-1)
      .writeInt32(-1)
      .writeInt32(1) // one record
      .writeBuffer(compressed);
    const batch = new Encoder()
      .writeInt32(0) // partition leader epoch
      .writeInt8(2) // magic
      .writeInt32(0) // crc (not checked by kafkajs)
      .writeBuffer(batchBody.buffer);
    const wire = new Encoder()
      .writeInt64(0)
      .writeInt32(batch.buffer.length)
      .writeBuffer(batch.buffer).buffer;

    expect(compressed.length).toBeLessThan(2048);
    const decoded = await decodeBatch(new Decoder(wire));
    const headers = decoded.records[0]?.headers ?? {};
    // Current behaviour: every header is materialised (one name "", 200,000 Buffer values)…
    expect((headers[''] as unknown[]).length).toBe(count);
    // …and only then does membrane's limit refuse the record.
    const refused = checkEnvelope(
      sourceRecord({ headers: headers as never }),
      DEFAULT_ENVELOPE_LIMITS,
    );
    expect(refused?.code).toBe('trust.too-many-headers');
  });
});
