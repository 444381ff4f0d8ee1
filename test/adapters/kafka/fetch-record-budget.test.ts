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
  partitionBytes,
  wireBatch,
  wireRecord,
} from '../../support/kafka-wire.js';

/**
 * Found by a review (review11c), fixed: the fetch budget counted decompressed bytes, not the records decoded from
 * them. An empty record takes 9 bytes decompressed and about 200 bytes of heap once decoded
 * (its object, offset and timestamp strings, headers object). A gzip batch of 700,000 empty
 * records is 978 KB on the wire (under the broker's default max.message.bytes), 6.3 MB
 * decompressed, within MEMBRANE_MAX_BATCH_RECORDS (1,000,000): measured with three such
 * partitions in one response, 2,100,000 records, 452 MB of heap held, 5.2 s to decode, 19 MB
 * of the 64 MiB budget spent; kafkajs's default 10 MiB fetch holds ten of them (about 1.5 GB).
 * Now every decoded record is charged 256 bytes besides its bytes, and
 * MEMBRANE_MAX_BATCH_RECORDS defaults to 262,144 (the 64 MiB budget at 256 bytes a record), so
 * a response decodes at most about twice the budget's worth of records, small or not.
 */
/** A gzip batch of `count` empty records at offset 0, behind its partition's size. */
function partition(count: number): { bytes: Buffer; decompressed: number } {
  const raw = Buffer.concat(
    Array.from({ length: count }, (_, i) => wireRecord({ offsetDelta: i })),
  );
  return {
    bytes: partitionBytes(wireBatch(gzipSync(raw, { level: 9 }), { count })),
    decompressed: raw.length,
  };
}

describe('the fetch budget counts decoded records too (patched)', () => {
  const defaults = decodingLimits();
  afterEach(() => {
    limitDecoding(defaults);
  });

  it('stops a response of many tiny records once their count spends the budget', async () => {
    registerCodecs();
    expect(decodingLimits().maxRecordsPerBatch).toBe(262_144);
    const one = partition(200_000);
    expect(one.bytes.length).toBeLessThan(300 * 1024);
    // Three partitions, each one gzip batch of 200,000 empty records (1.8 MB decompressed).
    const response = new Decoder(Buffer.concat([one.bytes, one.bytes, one.bytes]));
    const decoded = [
      await decodeMessages(response),
      await decodeMessages(response),
      await decodeMessages(response),
    ];
    // 200,000 × 256 bytes is 51 MB: under the budget, so the second partition's batch is
    // decoded too, and then it is spent: the third waits for the next fetch.
    expect(decoded.map((d) => d.length)).toEqual([200_000, 200_000, 0]);
    expect(response.membraneDecompressedBytes).toBe(2 * (one.decompressed + 200_000 * 256));
    expect(decoded.flat().filter((r) => r.refusedBatch !== undefined)).toEqual([]);
  });

  it('refuses a compressed batch of more than 262,144 records by default', async () => {
    registerCodecs();
    const [only, ...rest] = await decodeMessages(new Decoder(partition(262_145).bytes));
    expect(rest).toEqual([]);
    expect(only?.refusedBatch?.reason).toBe(
      'compressed batch refused: it declares 262145 records, more than 262144',
    );
  });
});
