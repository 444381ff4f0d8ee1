import { createRequire } from 'node:module';

/**
 * Kafka's wire format built by hand, for tests of kafkajs's decoders as membrane patches them
 * (patches/kafkajs+2.2.4.patch): records, v2 record batches and a partition's part of a fetch
 * response, with kafkajs's own encoder, and the decoders under test.
 */
const require = createRequire(import.meta.url);

export interface Coder {
  readonly buffer: Buffer;
  writeVarInt(n: number): Coder;
  writeInt8(n: number): Coder;
  writeInt16(n: number): Coder;
  writeInt32(n: number): Coder;
  writeInt64(n: number | string): Coder;
  writeString(s: string): Coder;
  writeBuffer(b: Buffer): Coder;
}

/** A response decoder; the patched fetch decoder keeps the response's budget spent on it. */
export interface WireDecoder {
  membraneDecompressedBytes?: number;
}

/** A record as kafkajs's decoders hand it over (patched: `refusedBatch` on a stand-in). */
export interface DecodedRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, unknown>;
  readonly refusedBatch?: {
    readonly firstOffset: string;
    readonly lastOffset: string;
    readonly compression: number;
    readonly reason: string;
  };
}

export const Encoder = require('kafkajs/src/protocol/encoder') as new () => Coder;
export const Decoder = require('kafkajs/src/protocol/decoder') as new (
  buffer: Buffer,
) => WireDecoder;
/** One record batch, read from a fetch's bytes. */
export const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: WireDecoder,
) => Promise<{ records: DecodedRecord[] }>;
/** One partition's record batches, read from a fetch response. */
export const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages') as (
  decoder: WireDecoder,
) => Promise<DecodedRecord[]>;

export const MiB = 1024 * 1024;
export const varint = (n: number): Buffer => new Encoder().writeVarInt(n).buffer;
export const int32 = (n: number): Buffer => new Encoder().writeInt32(n).buffer;

/**
 * One record: no key; a value of `valueSize` zero bytes (null when -1); `headers` headers,
 * each with an empty name and an empty value.
 */
export function wireRecord(
  options: { offsetDelta?: number; valueSize?: number; headers?: number } = {},
): Buffer {
  const { offsetDelta = 0, valueSize = -1, headers = 0 } = options;
  const body = Buffer.concat([
    Buffer.from([0]), // attributes
    varint(0), // timestamp delta
    varint(offsetDelta),
    varint(-1), // key: null
    varint(valueSize),
    Buffer.alloc(Math.max(0, valueSize)),
    varint(headers),
    Buffer.alloc(headers * 2),
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/**
 * A v2 record batch as a fetch carries it (base offset, length, then the batch): `records`
 * are its records' bytes as written — compressed, for a compressed `attributes` (1: gzip) —
 * and it declares `count` records from offset `first`.
 */
export function wireBatch(
  records: Buffer,
  options: { first?: number; count?: number; attributes?: number } = {},
): Buffer {
  const { first = 0, count = 1, attributes = 1 } = options;
  const body = new Encoder()
    .writeInt16(attributes)
    .writeInt32(count - 1) // last offset delta
    .writeInt64(0) // first timestamp
    .writeInt64(0) // max timestamp
    .writeInt64(-1) // producer ID
    .writeInt16(-1) // producer epoch
    .writeInt32(-1) // first sequence
    .writeInt32(count)
    .writeBuffer(records);
  const batch = new Encoder()
    .writeInt32(0) // partition leader epoch
    .writeInt8(2) // magic
    .writeInt32(0) // crc (kafkajs does not check it)
    .writeBuffer(body.buffer);
  return new Encoder().writeInt64(first).writeInt32(batch.buffer.length).writeBuffer(batch.buffer)
    .buffer;
}

/** A partition's part of a fetch response: the size of its record batches, then them. */
export const partitionBytes = (batches: Buffer): Buffer =>
  new Encoder().writeInt32(batches.length).writeBuffer(batches).buffer;
