import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { gzip as gzipAsync, unzip as unzipAsync } from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import kafkajs from 'kafkajs';

/**
 * The compression codecs kafkajs lacks: it reads gzip only, and a batch compressed with
 * snappy, lz4 or zstd — the usual settings of Java producers — stopped membrane with "LZ4
 * compression not implemented". Registered once, for every client membrane creates; all
 * pure JavaScript (no native build to fail on install):
 *
 * - snappy: snappyjs, with the xerial framing the Java client writes (and plain snappy);
 * - lz4: lz4js, the LZ4 frame format Kafka uses since 0.10 (KIP-57); read only: lz4js
 *   writes frames with dependent blocks, which the broker refuses;
 * - zstd: fzstd, which only decompresses; read only.
 *
 * membrane's own producers do not compress, so reading is what matters.
 */
const require = createRequire(import.meta.url);
const snappy = require('snappyjs') as {
  compress(input: Buffer): Buffer;
  uncompress(input: Buffer, maxLength?: number): Buffer;
};
const lz4 = require('lz4js') as { decompress(input: Buffer, maxSize?: number): Uint8Array };

/**
 * The most one compressed batch may decompress to by default (MEMBRANE_MAX_BATCH_BYTES). The
 * broker bounds batches by their compressed size only, so a few bytes could otherwise claim
 * gigabytes (snappy and zstd allocate what the header declares; lz4js loops over a block size
 * it never checks). Far above any batch a fetch of membrane's (1 MiB a partition) brings, even
 * at a ratio of 50.
 */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

/** The limit in force (see limitDecoding). */
let maxBatchBytes = MAX_BATCH_BYTES;

/** A batch refused before it is decompressed: malformed, or claiming too much. */
export class CompressedBatchError extends Error {
  override readonly name = 'CompressedBatchError';
}

const refuse = (codec: string, why: string): never => {
  throw new CompressedBatchError(`${codec} batch refused: ${why}`);
};

const LZ4_BLOCK_SIZES: Record<number, number> = {
  4: 0x10000,
  5: 0x40000,
  6: 0x100000,
  7: 0x400000,
};

/**
 * Walks an LZ4 frame's headers before lz4js sees it: every block must fit the bytes left and
 * the frame's block size, and the total is bounded. Returns the most it can decompress to.
 */
export function lz4Bound(buffer: Buffer): number {
  if (buffer.length < 7 || buffer.readUInt32LE(0) !== 0x184d2204) refuse('lz4', 'not an LZ4 frame');
  const flags = buffer[4] ?? 0;
  const maxBlock = LZ4_BLOCK_SIZES[((buffer[5] ?? 0) >> 4) & 7];
  if (maxBlock === undefined) return refuse('lz4', 'invalid block size');
  const blockChecksum = (flags & 0x10) !== 0;
  let at = 6 + ((flags & 0x08) !== 0 ? 8 : 0) + 1; // content size (ignored), header checksum
  let bound = 0;
  for (;;) {
    if (at + 4 > buffer.length) return refuse('lz4', 'truncated');
    const word = buffer.readUInt32LE(at);
    at += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > maxBlock || at + size > buffer.length)
      refuse('lz4', 'a block larger than the frame allows');
    at += size + (blockChecksum ? 4 : 0);
    bound += maxBlock;
    if (bound > maxBatchBytes) refuse('lz4', `more than ${maxBatchBytes} bytes`);
  }
  return bound;
}

/**
 * Walks zstd frames' headers before fzstd sees them: a declared content size or window over
 * the limit, or blocks that would decompress to more, are refused (fzstd allocates what the
 * header declares).
 */
export function zstdCheck(buffer: Buffer): void {
  let at = 0;
  let total = 0;
  while (at < buffer.length) {
    if (at + 4 > buffer.length) refuse('zstd', 'truncated');
    const magic = buffer.readUInt32LE(at);
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // A skippable frame.
      if (at + 8 > buffer.length) refuse('zstd', 'truncated');
      at += 8 + buffer.readUInt32LE(at + 4);
      continue;
    }
    if (magic !== 0xfd2fb528) refuse('zstd', 'not a zstd frame');
    const descriptor = buffer[at + 4] ?? 0;
    at += 5;
    const singleSegment = (descriptor & 0x20) !== 0;
    if (!singleSegment) {
      const window = buffer[at] ?? 0;
      const log = 10 + (window >> 3);
      if (2 ** log > maxBatchBytes) refuse('zstd', 'a window larger than allowed');
      at += 1;
    }
    at += [0, 1, 2, 4][descriptor & 3] ?? 0;
    const sizeBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6] ?? 0;
    if (at + sizeBytes > buffer.length) refuse('zstd', 'truncated');
    let declared = 0;
    for (let i = sizeBytes - 1; i >= 0; i--) declared = declared * 256 + (buffer[at + i] ?? 0);
    if (sizeBytes === 2) declared += 256;
    if (declared > maxBatchBytes) refuse('zstd', `declares ${declared} bytes`);
    at += sizeBytes;
    // fzstd allocates what a frame declares: frames count the larger of that and their blocks.
    const before = total;
    for (;;) {
      if (at + 3 > buffer.length) refuse('zstd', 'truncated');
      const header = buffer.readUIntLE(at, 3);
      at += 3;
      const type = (header >> 1) & 3;
      const size = header >> 3;
      if (type === 3) refuse('zstd', 'a reserved block type');
      const content = type === 1 ? 1 : size;
      if (at + content > buffer.length) refuse('zstd', 'truncated');
      at += content;
      total += type === 2 ? 128 * 1024 : size;
      if (total > maxBatchBytes) refuse('zstd', `more than ${maxBatchBytes} bytes`);
      if ((header & 1) === 1) break;
    }
    total = Math.max(total, before + declared);
    if (total > maxBatchBytes) refuse('zstd', `more than ${maxBatchBytes} bytes`);
    if ((descriptor & 0x04) !== 0) at += 4; // content checksum
  }
}

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Snappy as the Java client writes it: xerial frames (magic, versions, then sized blocks). */
export function snappyDecompress(buffer: Buffer): Buffer {
  // snappyjs allocates the length a block declares; it refuses one over the limit given.
  if (buffer.length < 16 || !buffer.subarray(0, 8).equals(XERIAL_HEADER))
    return snappy.uncompress(buffer, maxBatchBytes);
  let left = maxBatchBytes;
  const blocks: Buffer[] = [];
  let offset = 16;
  while (offset + 4 <= buffer.length) {
    const size = buffer.readUInt32BE(offset);
    offset += 4;
    const block = snappy.uncompress(buffer.subarray(offset, offset + size), left);
    left -= block.length;
    blocks.push(block);
    offset += size;
  }
  if (offset !== buffer.length) refuse('snappy', 'bytes left over after the last block');
  return Buffer.concat(blocks);
}

const readOnly = (name: string): Promise<Buffer> =>
  Promise.reject(new Error(`membrane reads ${name}-compressed batches but does not write them`));

const gzip = promisify(gzipAsync);
const unzip = promisify(unzipAsync);

const codecs: Record<'gzip' | 'snappy' | 'lz4' | 'zstd', Codec> = {
  // kafkajs's own gzip codec, with zlib stopping at the limit instead of inflating without one.
  gzip: {
    compress: ({ buffer }) => gzip(buffer),
    decompress: (buffer) =>
      unzip(buffer, { maxOutputLength: maxBatchBytes }).catch((error: unknown) => {
        if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
          refuse('gzip', `it decompresses to more than ${maxBatchBytes} bytes`);
        throw error;
      }),
  },
  snappy: {
    compress: ({ buffer }) => Promise.resolve(snappy.compress(buffer)),
    decompress: async (buffer) => Promise.resolve(snappyDecompress(buffer)),
  },
  lz4: {
    compress: () => readOnly('lz4'),
    decompress: async (buffer) =>
      Promise.resolve(asBuffer(lz4.decompress(buffer, lz4Bound(buffer)))),
  },
  zstd: {
    compress: () => readOnly('zstd'),
    decompress: async (buffer) => {
      zstdCheck(buffer);
      return Promise.resolve(asBuffer(zstdDecompress(buffer)));
    },
  },
};

// kafkajs is CommonJS: these two are not named exports Node's ESM loader can see.
const { CompressionCodecs, CompressionTypes } = kafkajs;
let registered = false;

/** Makes kafkajs read gzip, snappy, lz4 and zstd batches (and write gzip and snappy), within
 * maxBatchBytes. Idempotent. */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  const table = CompressionCodecs as unknown as Record<number, () => Codec>;
  table[CompressionTypes.GZIP] = () => codecs.gzip;
  table[CompressionTypes.Snappy] = () => codecs.snappy;
  table[CompressionTypes.LZ4] = () => codecs.lz4;
  table[CompressionTypes.ZSTD] = () => codecs.zstd;
}

export { codecs };

/** What kafkajs's record decoder (patched) may build from one fetched batch; process-wide. */
interface DecoderLimits {
  maxHeaders: number;
  maxRecordsPerBatch: number;
  /** The most one compressed batch may decompress to. */
  maxBatchBytes: number;
}

const decoderLimits = (
  require('kafkajs/src/protocol/recordBatch/record/v0/decoder.js') as {
    limits: Omit<DecoderLimits, 'maxBatchBytes'> & { maxFetchDecompressedBytes: number };
  }
).limits;

/**
 * Bounds what decoding one fetched batch may build, before membrane's own checks see a record.
 * `maxHeaders` (MEMBRANE_MAX_HEADERS): a record declaring more keeps only its first
 * `maxHeaders + 1` headers — enough for the envelope check to quarantine it as
 * trust.too-many-headers — and the rest is skipped unread. `maxRecordsPerBatch`
 * (MEMBRANE_MAX_BATCH_RECORDS): a compressed batch declaring more records is refused whole, as
 * one that decompresses to more than `maxBatchBytes` (MEMBRANE_MAX_BATCH_BYTES) is. A refused
 * batch reaches the consumer as one record standing for it (`refusedBatch`: see
 * SourceRecord.refusedBatch), which the pipeline quarantines as trust.batch-refused.
 * `maxBatchBytes` also bounds one fetch response: once its batches have decompressed to that
 * much, the rest is left for the next fetch (its first batch is always decoded), so a fetch
 * holds at most twice that decompressed. Without a call (the CLI), 65,536 headers, 262,144
 * records and 64 MiB.
 */
export function limitDecoding(limits: Partial<DecoderLimits>): void {
  if (limits.maxHeaders !== undefined) decoderLimits.maxHeaders = limits.maxHeaders;
  if (limits.maxRecordsPerBatch !== undefined)
    decoderLimits.maxRecordsPerBatch = limits.maxRecordsPerBatch;
  if (limits.maxBatchBytes !== undefined) {
    maxBatchBytes = limits.maxBatchBytes;
    decoderLimits.maxFetchDecompressedBytes = limits.maxBatchBytes;
  }
}

/** The limits in force (for tests and the startup log). */
export function decodingLimits(): Readonly<DecoderLimits> {
  return {
    maxHeaders: decoderLimits.maxHeaders,
    maxRecordsPerBatch: decoderLimits.maxRecordsPerBatch,
    maxBatchBytes,
  };
}
