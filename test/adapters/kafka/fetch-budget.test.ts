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
 * Found by a review (review11b): MEMBRANE_MAX_BATCH_BYTES bounded one batch, not one fetch.
 * kafkajs decodes every batch of a fetch response before the consumer sees any, and each
 * record's value is a slice of its batch's decompressed buffer, so all of them stay alive
 * together. Ordinary gzip batches of one record with a 64 MB value of zeros take about 65 KB
 * each: 12 of them (780 KB) took `membrane run` to a 1.07 GB peak RSS, and the same fetch came
 * back after every restart; zstd RLE frames reach about 30,000:1. The patched decodeMessages
 * keeps a budget of decompressed bytes per fetch response (MEMBRANE_MAX_BATCH_BYTES): once
 * spent, the rest of the response is left for the next fetch, like a partial batch at its end.
 */
describe('what one fetch response may hold once decoded (patched)', () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('stops decoding a fetch once its batches have decompressed to MEMBRANE_MAX_BATCH_BYTES; the rest comes with the next fetch', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 20 * MiB });
    const size = 8 * MiB;
    const compressed = gzipSync(wireRecord({ valueSize: size }), { level: 9 });
    const batches = Array.from({ length: 8 }, (_, i) => wireBatch(compressed, { first: i }));
    const fetch = partitionBytes(Buffer.concat(batches));
    expect(fetch.length).toBeLessThan(100 * 1024);

    // 8 + 8 MiB is under the budget, 24 MiB is not: three batches, held together.
    const records = await decodeMessages(new Decoder(fetch));
    expect(records.map((r) => r.offset)).toEqual(['0', '1', '2']);
    expect(records.filter((r) => r.refusedBatch !== undefined)).toEqual([]);
    const held = new Set(records.map((r) => r.value?.buffer));
    const bytes = [...held].reduce((sum, b) => sum + (b?.byteLength ?? 0), 0);
    expect(bytes).toBeLessThanOrEqual(20 * MiB + 8 * MiB + 1024);

    // The next fetch starts after the last record handed over, with a budget of its own.
    const next = await decodeMessages(new Decoder(partitionBytes(Buffer.concat(batches.slice(3)))));
    expect(next.map((r) => r.offset)).toEqual(['3', '4', '5']);
  });

  it('shares the budget between the partitions of one response', async () => {
    registerCodecs();
    limitDecoding({ maxBatchBytes: 4 * MiB });
    const compressed = gzipSync(wireRecord({ valueSize: 3 * MiB }), { level: 9 });
    const two = Buffer.concat([
      wireBatch(compressed, { first: 0 }),
      wireBatch(compressed, { first: 1 }),
    ]);
    // One response decoder, read by each partition in turn (as kafkajs's fetch responses are).
    const response = new Decoder(Buffer.concat([partitionBytes(two), partitionBytes(two)]));
    const first = await decodeMessages(response);
    const second = await decodeMessages(response);
    // 3 MiB, then 6: spent. The second partition waits for the next fetch.
    expect(first.map((r) => r.offset)).toEqual(['0', '1']);
    expect(second).toEqual([]);
    // The next response decodes it, within a budget of its own.
    expect((await decodeMessages(new Decoder(partitionBytes(two)))).map((r) => r.offset)).toEqual([
      '0',
      '1',
    ]);
  });
});
