import type { Issue, Stage } from './issues.js';
import type { DropCause } from './verdict.js';

/**
 * Header values as Kafka clients hand them over. Kafka allows a header without a value:
 * kafkajs reads it as `null`, which membrane treats as absent wherever it reads headers.
 */
export type HeaderValue = Buffer | string | readonly (Buffer | string | null)[] | null | undefined;
export type Headers = Readonly<Record<string, HeaderValue>>;

/**
 * A fetched batch whose records could not be decoded: it declared more records than
 * MEMBRANE_MAX_BATCH_RECORDS, decompressed to more than MEMBRANE_MAX_BATCH_BYTES, or its bytes
 * are malformed. kafkajs (patched) hands it over as one record standing for the whole batch.
 */
export interface RefusedBatch {
  readonly firstOffset: string;
  readonly lastOffset: string;
  /** Kafka's compression codec ID: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd. */
  readonly compression: number;
  /** Why it could not be decoded. */
  readonly reason: string;
  /**
   * The first of its offsets not processed before, when records before it were: the group's
   * position was inside the batch (membrane had read part of it under higher limits). Set by
   * the task; absent when the whole batch is unprocessed.
   */
  readonly from?: string;
}

/** An upstream record and where it came from. Its bytes are never changed. */
export interface SourceRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** Milliseconds since the epoch, as a string (Kafka's own representation). */
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
  /**
   * Set when this record stands for a whole batch that could not be decoded into records: its
   * offset is the batch's last, its value the batch's bytes as Kafka stores them (a v2 record
   * batch, from its base offset on), no key, no headers. Quarantined as trust.batch-refused.
   */
  readonly refusedBatch?: RefusedBatch;
}

/** A translated record, ready to produce. */
export interface OutputRecord {
  readonly topic: string;
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  /** The deterministic `membrane.id`. */
  readonly id: string;
  /** The route (event) that produced it. */
  readonly route: string;
  /** The translated record before encoding, for tests, diffs and state. */
  readonly payload: Readonly<Record<string, unknown>>;
  /** The aggregate key the record is ordered and clocked by, when the mapping names one. */
  readonly aggregate: string | undefined;
}

export type PipelineResult =
  | { readonly kind: 'pass'; readonly outputs: readonly OutputRecord[] }
  | {
      readonly kind: 'drop';
      /** The same as `cause.reason`. */
      readonly reason: string;
      /** Its kind and route: what `membrane_records_dropped_total` counts it by. */
      readonly cause: DropCause;
      readonly id: string | undefined;
    }
  | {
      readonly kind: 'quarantine';
      readonly stage: Stage;
      readonly issues: readonly Issue[];
      /** The ID the record would have had, when it got far enough to know it. */
      readonly id: string | undefined;
    };

function firstHeader(headers: Headers, name: string): Buffer | string | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const value = headers[name];
  const first = Array.isArray(value)
    ? (value as readonly (Buffer | string | null)[])[0]
    : (value as Buffer | string | null | undefined);
  return first ?? undefined;
}

/** The first value of a header as text, or undefined. */
export function headerText(headers: Headers, name: string): string | undefined {
  const first = firstHeader(headers, name);
  return first === undefined || typeof first === 'string' ? first : first.toString('utf8');
}

/** The first value of a header as bytes, or undefined. */
export function headerBytes(headers: Headers, name: string): Buffer | undefined {
  const first = firstHeader(headers, name);
  return typeof first === 'string' ? Buffer.from(first, 'utf8') : first;
}
