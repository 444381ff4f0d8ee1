import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { codecs, MAX_BATCH_BYTES } from '../../../src/adapters/kafka/codecs.js';

/**
 * The codecs membrane registers for kafkajs read what producers write (the Java client's
 * batches in every type are read back in test/integration/kafka/compression.test.ts) and
 * refuse, before allocating or looping, batches a few bytes long that claim gigabytes.
 */
const require = createRequire(import.meta.url);
const snappyjs = require('snappyjs') as { compress(input: Buffer): Buffer };
const lz4js = require('lz4js') as { compress(input: Buffer): Uint8Array };

const XERIAL = Buffer.from([
  0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1,
]);
const sized = (block: Buffer): Buffer => {
  const size = Buffer.alloc(4);
  size.writeUInt32BE(block.length);
  return Buffer.concat([size, block]);
};
const text = Buffer.from('a compressible batch '.repeat(5000));

describe('the compression codecs', () => {
  it('read snappy (plain and xerial-framed) and LZ4 frames', async () => {
    const plain = snappyjs.compress(text);
    expect(await codecs.snappy.decompress(plain)).toEqual(text);
    const framed = Buffer.concat([
      XERIAL,
      sized(snappyjs.compress(text.subarray(0, 40_000))),
      sized(snappyjs.compress(text.subarray(40_000))),
    ]);
    expect(await codecs.snappy.decompress(framed)).toEqual(text);
    expect(await codecs.lz4.decompress(Buffer.from(lz4js.compress(text)))).toEqual(text);
  });

  it('inflate gzip only up to the limit', async () => {
    expect(await codecs.gzip.decompress(gzipSync(text))).toEqual(text);
    const bomb = gzipSync(Buffer.alloc(MAX_BATCH_BYTES + 1)); // ~65 KB
    await expect(codecs.gzip.decompress(bomb)).rejects.toThrow(
      `gzip batch refused: it decompresses to more than ${MAX_BATCH_BYTES} bytes`,
    );
  });

  it('refuse a snappy block that declares 2 GiB in 7 bytes, before allocating it', async () => {
    const bomb = Buffer.from([0xfe, 0xff, 0xff, 0xff, 0x07, 0x00, 0x61]);
    await expect(codecs.snappy.decompress(bomb)).rejects.toThrow(/too big/);
    const framed = Buffer.concat([XERIAL, sized(bomb), sized(bomb)]);
    await expect(codecs.snappy.decompress(framed)).rejects.toThrow(/too big/);
  });

  it('refuse an LZ4 block larger than its frame or the bytes left (lz4js would loop 2^31 times)', async () => {
    const frame = (size: number): Buffer => {
      const word = Buffer.alloc(4);
      word.writeUInt32LE(size);
      return Buffer.concat([
        Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7]),
        word,
        Buffer.from([1, 2, 3]),
      ]);
    };
    await expect(codecs.lz4.decompress(frame(0x7fffffff))).rejects.toThrow(/larger than/);
    await expect(codecs.lz4.decompress(frame(100_000_000))).rejects.toThrow(/larger than/);
    // A frame that declares a content size of 4 GB is read by its blocks, not its claim.
    const size = Buffer.alloc(8);
    size.writeBigUInt64LE(4_000_000_000n);
    const claims = Buffer.concat([
      Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x68, 0x40]),
      size,
      Buffer.from([0x00, 0, 0, 0, 0]),
    ]);
    expect(await codecs.lz4.decompress(claims)).toHaveLength(0);
  });

  it('refuse zstd frames that declare more than the limit, before fzstd allocates it', async () => {
    const frame = (declared: bigint): Buffer => {
      const size = Buffer.alloc(8);
      size.writeBigUInt64LE(declared);
      return Buffer.concat([
        Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0]),
        size,
        Buffer.from([0x01, 0, 0]),
      ]);
    };
    await expect(codecs.zstd.decompress(frame(2_000_000_000n))).rejects.toThrow(/declares/);
    await expect(
      codecs.zstd.decompress(Buffer.concat([frame(40_000_000n), frame(40_000_000n)])),
    ).rejects.toThrow(/more than/);
    expect((await codecs.zstd.decompress(frame(1000n))).length).toBe(1000);
    expect(MAX_BATCH_BYTES).toBe(64 * 1024 * 1024);
  });
});
