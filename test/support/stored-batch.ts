import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Long = require('kafkajs/src/utils/long') as { fromValue(v: number | string): unknown };
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (options: {
    compression: number;
    firstOffset: unknown;
    firstTimestamp: number;
    maxTimestamp: number;
    lastOffsetDelta: number;
    records: unknown[];
  }) => Promise<{ buffer: Buffer }>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (options: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
}) => unknown;

export interface StoredRecord {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer>;
}

/**
 * A v2 record batch as the broker stores it (from its base offset on), as membrane quarantines
 * a refused one: `records` from offset `first`, the n-th stamped `timestamp + n`, built with
 * kafkajs's own encoders (1: gzip).
 */
export async function storedBatch(
  records: readonly StoredRecord[],
  options: { first: number; timestamp: number; compression: number },
): Promise<Buffer> {
  const { buffer } = await RecordBatch({
    compression: options.compression,
    firstOffset: Long.fromValue(options.first),
    firstTimestamp: options.timestamp,
    maxTimestamp: options.timestamp + records.length - 1,
    lastOffsetDelta: records.length - 1,
    records: records.map((r, n) =>
      Record({ offsetDelta: n, timestampDelta: n, key: r.key, value: r.value, headers: r.headers }),
    ),
  });
  return buffer;
}
