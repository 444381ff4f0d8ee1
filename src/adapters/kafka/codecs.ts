import { createRequire } from 'node:module';
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
  uncompress(input: Buffer): Buffer;
};
const lz4 = require('lz4js') as { decompress(input: Buffer): Uint8Array };

interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const XERIAL_HEADER = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Snappy as the Java client writes it: xerial frames (magic, versions, then sized blocks). */
export function snappyDecompress(buffer: Buffer): Buffer {
  if (buffer.length < 16 || !buffer.subarray(0, 8).equals(XERIAL_HEADER))
    return snappy.uncompress(buffer);
  const blocks: Buffer[] = [];
  let offset = 16;
  while (offset + 4 <= buffer.length) {
    const size = buffer.readUInt32BE(offset);
    offset += 4;
    blocks.push(snappy.uncompress(buffer.subarray(offset, offset + size)));
    offset += size;
  }
  return Buffer.concat(blocks);
}

const readOnly = (name: string): Promise<Buffer> =>
  Promise.reject(new Error(`membrane reads ${name}-compressed batches but does not write them`));

const codecs: Record<'snappy' | 'lz4' | 'zstd', Codec> = {
  snappy: {
    compress: ({ buffer }) => Promise.resolve(snappy.compress(buffer)),
    decompress: (buffer) => Promise.resolve(snappyDecompress(buffer)),
  },
  lz4: {
    compress: () => readOnly('lz4'),
    decompress: (buffer) => Promise.resolve(asBuffer(lz4.decompress(buffer))),
  },
  zstd: {
    compress: () => readOnly('zstd'),
    decompress: (buffer) => Promise.resolve(asBuffer(zstdDecompress(buffer))),
  },
};

// kafkajs is CommonJS: these two are not named exports Node's ESM loader can see.
const { CompressionCodecs, CompressionTypes } = kafkajs;
let registered = false;

/** Makes kafkajs read snappy, lz4 and zstd batches (and write snappy). Idempotent. */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  const table = CompressionCodecs as unknown as Record<number, () => Codec>;
  table[CompressionTypes.Snappy] = () => codecs.snappy;
  table[CompressionTypes.LZ4] = () => codecs.lz4;
  table[CompressionTypes.ZSTD] = () => codecs.zstd;
}

export { codecs };
