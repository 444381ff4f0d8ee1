import { createRequire } from 'node:module';
import type { MessageHeaders } from '../quarantine/codec.js';
import { registerCodecs } from './codecs.js';

/**
 * A Kafka v2 record batch as the broker stores it (from its 8-byte base offset on), decoded
 * into its records with kafkajs's decoder as membrane patches it: the same codecs and the same
 * limits (see limitDecoding) as a fetch. For `quarantine unpack`: the value of a
 * trust.batch-refused quarantine record is such a batch.
 */
const require = createRequire(import.meta.url);
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const decodeBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{
  firstOffset: string;
  lastOffsetDelta: number;
  records: readonly KafkajsRecord[];
}>;

interface KafkajsRecord {
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: MessageHeaders;
  readonly isControlRecord?: boolean;
  readonly refusedBatch?: { readonly reason: string };
}

/** One record of a batch, as its producer sent it, at the offset the broker gave it. */
export interface BatchRecord {
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: MessageHeaders;
}

export type DecodedBatch =
  | {
      readonly kind: 'records';
      /** Its first and last offset, as its header says. */
      readonly firstOffset: string;
      readonly lastOffset: string;
      readonly records: readonly BatchRecord[];
    }
  | { readonly kind: 'refused'; readonly reason: string };

/** The records of a stored batch, or why it cannot be decoded (within the limits in force). */
export async function decodeStoredBatch(bytes: Buffer): Promise<DecodedBatch> {
  registerCodecs();
  let batch: Awaited<ReturnType<typeof decodeBatch>>;
  try {
    batch = await decodeBatch(new Decoder(bytes));
  } catch (error) {
    // Too short for a batch header: the patched decoder turns only a complete batch's
    // failures into a stand-in record.
    return { kind: 'refused', reason: error instanceof Error ? error.message : String(error) };
  }
  const refused = batch.records.find((r) => r.refusedBatch !== undefined)?.refusedBatch;
  if (refused) return { kind: 'refused', reason: refused.reason };
  return {
    kind: 'records',
    firstOffset: batch.firstOffset,
    lastOffset: (BigInt(batch.firstOffset) + BigInt(batch.lastOffsetDelta)).toString(),
    records: batch.records
      .filter((r) => r.isControlRecord !== true)
      .map(({ offset, timestamp, key, value, headers }) => ({
        offset,
        timestamp,
        key,
        value,
        headers,
      })),
  };
}
