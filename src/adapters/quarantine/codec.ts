import { createHash } from 'node:crypto';
import {
  BATCH_OVERHEAD_BYTES,
  HEADER_OVERHEAD_BYTES as HEADER_OVERHEAD,
  messageBytes,
  RECORD_OVERHEAD_BYTES as RECORD_OVERHEAD,
} from '../kafka/send-slices.js';
import { cut, type Issue, type IssueCode, type Stage } from '../../core/issues.js';
import type { HeaderValue, Headers } from '../../core/records.js';

/**
 * The quarantine record: the upstream key, value and headers unchanged, plus one taxonomy of
 * `membrane.*` headers saying what failed, where, and what the record came from. This module
 * alone writes and reads them (the runtime writes, the quarantine CLI reads).
 */
export const QUARANTINE_HEADERS = {
  code: 'membrane.quarantine.code',
  stage: 'membrane.quarantine.stage',
  issues: 'membrane.quarantine.issues',
  topic: 'membrane.source.topic',
  partition: 'membrane.source.partition',
  offset: 'membrane.source.offset',
  timestamp: 'membrane.source.timestamp',
  mapping: 'membrane.mapping',
  id: 'membrane.id',
  quarantinedAt: 'membrane.quarantined-at',
  attempt: 'membrane.attempt',
  truncated: 'membrane.quarantine.truncated',
  batch: 'membrane.quarantine.batch',
} as const;

/** A key or value cut to fit the quarantine topic: how long it was, what is kept, its hash. */
export interface TruncatedBytes {
  /** The original's length in bytes. */
  readonly bytes: number;
  /** How many of its first bytes the quarantine record keeps. */
  readonly kept: number;
  /** SHA-256 of the original, hex. */
  readonly sha256: string;
}

/**
 * What a quarantine record lost to fit its topic. A record that decompresses to more than
 * the quarantine topic's `max.message.bytes` cannot be kept byte for byte: its value is cut
 * first, then its key, and as a last resort its upstream headers are left out; the original's
 * sizes and SHA-256 stay, so it can be matched with the producer's copy. Never replayed.
 */
export interface Truncation {
  readonly value?: TruncatedBytes;
  readonly key?: TruncatedBytes;
  readonly headers?: { readonly count: number; readonly bytes: number; readonly sha256: string };
  /**
   * Membrane's own issues header, bounded as a last resort (when the record still does not
   * fit with the upstream parts cut away): how many issues the entry had, how many the header
   * keeps (each with its path and message cut to SHORT_ISSUE_TEXT characters, marked
   * `…(N chars)`), and how many bytes the whole header would have taken.
   */
  readonly issues?: { readonly count: number; readonly kept: number; readonly bytes: number };
}

export interface QuarantineEntry {
  /** Where the upstream record was. */
  readonly source: {
    readonly topic: string;
    readonly partition: number;
    readonly offset: string;
    readonly timestamp: string;
  };
  /** `name@version` of the mapping that refused it. */
  readonly mapping: string;
  readonly stage: Stage;
  readonly issues: readonly Issue[];
  /** The deterministic ID it would have had, when known. */
  readonly id: string | undefined;
  /** ISO 8601, from the runtime's clock (the pipeline never reads the time). */
  readonly quarantinedAt: string;
  /** 1 on first failure; replays raise it. */
  readonly attempt: number;
  /** Set when the upstream record did not fit the quarantine topic and was cut. */
  readonly truncated?: Truncation;
  /**
   * Set when the value is a whole batch that could not be decoded into records
   * (trust.batch-refused): its offsets, and from which one its records were not processed
   * when the group's position was inside it.
   */
  readonly batch?: QuarantinedBatch;
}

/** A refused batch's offsets (see QuarantineEntry.batch). */
export interface QuarantinedBatch {
  readonly firstOffset: string;
  readonly lastOffset: string;
  /** The first offset not processed before, when records before it were. */
  readonly from?: string;
}

/** Kafka header values as kafkajs takes and gives them. */
export type MessageHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

export interface QuarantineMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: MessageHeaders;
}

function values(value: HeaderValue): (Buffer | string)[] {
  if (value === undefined) return [];
  return Array.isArray(value)
    ? [...(value as readonly (Buffer | string)[])]
    : [value as Buffer | string];
}

/**
 * Adds our headers after the upstream ones. An upstream header with one of our names (a
 * record that already went through a membrane) is kept: the name then carries several
 * values, the upstream ones first and ours last — Kafka headers are a list.
 *
 * `maxBytes` is what the quarantine topic takes (its `max.message.bytes`). A record that
 * would not fit is cut to fit and says so in `membrane.quarantine.truncated`, with the
 * original's sizes and SHA-256: a quarantine record the broker refuses would stop its
 * partition for ever. The upstream headers go first when they are the largest part (a header
 * flood), else the value is cut first, then the key, then the headers go. Should membrane's
 * own headers still not fit (issues are bounded where they are made — a path at 1 KiB, a
 * message at 1 KiB — but a record may carry up to 100 of them), the issues header is cut as a
 * last resort: the first issues that fit are kept, each shortened, and the truncation header
 * says how many there were. The first issue (the record's code) always stays.
 */
export function encodeQuarantine(
  upstream: {
    readonly key: Buffer | null;
    readonly value: Buffer | null;
    readonly headers: Headers;
  },
  entry: QuarantineEntry,
  maxBytes = Infinity,
): QuarantineMessage {
  const ours = ourHeaders(entry, undefined);
  const whole = build(upstream.key, upstream.value, upstream.headers, ours);
  if (whole.bytes <= maxBytes) return whole.message;

  let { key, value } = upstream;
  let headers: Headers = upstream.headers;
  const valueBytes = value?.length ?? 0;
  const keyBytes = key?.length ?? 0;
  const headerBytes = whole.upstreamHeaderBytes;
  let over = whole.bytes - maxBytes + TRUNCATION_ALLOWANCE;
  const truncation: { -readonly [K in keyof Truncation]: Truncation[K] } = {};
  const dropHeaders = (): void => {
    if (headerBytes === 0) return;
    truncation.headers = hashHeaders(upstream.headers);
    headers = {};
    over -= headerBytes;
  };
  const cut = (bytes: Buffer): { kept: Buffer; note: TruncatedBytes } => {
    const keep = Math.max(0, bytes.length - over);
    over -= bytes.length - keep;
    return {
      kept: bytes.subarray(0, keep),
      note: { bytes: bytes.length, kept: keep, sha256: sha256(bytes) },
    };
  };
  if (headerBytes >= valueBytes && headerBytes >= keyBytes) dropHeaders();
  if (over > 0 && value !== null && value.length > 0) {
    const { kept, note } = cut(value);
    value = kept;
    truncation.value = note;
  }
  if (over > 0 && key !== null && key.length > 0) {
    const { kept, note } = cut(key);
    key = kept;
    truncation.key = note;
  }
  if (over > 0 && truncation.headers === undefined) dropHeaders();
  let issues = entry.issues;
  if (over > 0) {
    const full = Buffer.byteLength(issuesHeader(entry.issues));
    issues = fewerIssues(entry.issues, full - over);
    over -= full - Buffer.byteLength(issuesHeader(issues));
    truncation.issues = { count: entry.issues.length, kept: issues.length, bytes: full };
  }
  return build(key, value, headers, ourHeaders(entry, truncation, issues)).message;
}

/** Characters of an issue's path and message kept when the issues header is cut. */
export const SHORT_ISSUE_TEXT = 64;

/**
 * The first issues, shortened, whose header takes at most `budget` bytes — the first one
 * always. Each keeps its code (and rule, which the mapping names), its path and message cut
 * to SHORT_ISSUE_TEXT characters.
 */
function fewerIssues(all: readonly Issue[], budget: number): Issue[] {
  const kept: Issue[] = [];
  let bytes = 2; // []
  for (const one of all) {
    const short: Issue = {
      ...one,
      path: cut(one.path, SHORT_ISSUE_TEXT),
      message: cut(one.message, SHORT_ISSUE_TEXT),
      ...(one.rule === undefined ? {} : { rule: cut(one.rule, SHORT_ISSUE_TEXT) }),
    };
    const size = Buffer.byteLength(JSON.stringify(short)) + (kept.length === 0 ? 0 : 1);
    if (kept.length > 0 && bytes + size > budget) break;
    kept.push(short);
    bytes += size;
  }
  return kept;
}

/** The `membrane.quarantine.issues` header: the issues as JSON, in a fixed key order. */
function issuesHeader(issues: readonly Issue[]): string {
  return JSON.stringify(
    issues.map((i) =>
      i.rule === undefined
        ? { code: i.code, path: i.path, message: i.message }
        : { code: i.code, path: i.path, message: i.message, rule: i.rule },
    ),
  );
}

/** Room for the truncation header, generously (it is at most about 400 bytes). */
const TRUNCATION_ALLOWANCE = 1024;

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The upstream headers' count, bytes and SHA-256: over each header in the order the decoded
 * record lists them (a repeated name's values together), its name and its value, each as a
 * 4-byte big-endian length and the bytes; a value without bytes (null) as length -1.
 */
function hashHeaders(headers: Headers): { count: number; bytes: number; sha256: string } {
  const hash = createHash('sha256');
  const length = Buffer.alloc(4);
  let count = 0;
  let bytes = 0;
  const add = (part: Buffer | null): void => {
    length.writeInt32BE(part === null ? -1 : part.length);
    hash.update(length);
    if (part !== null) hash.update(part);
  };
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    const all = Array.isArray(value)
      ? (value as readonly (Buffer | string | null)[])
      : [value as Buffer | string | null];
    const nameBytes = Buffer.from(name);
    for (const one of all) {
      const part = one === null ? null : typeof one === 'string' ? Buffer.from(one) : one;
      add(nameBytes);
      add(part);
      count += 1;
      bytes += nameBytes.length + (part?.length ?? 0);
    }
  }
  return { count, bytes, sha256: hash.digest('hex') };
}

/**
 * What a quarantine record takes in its topic: its record as Kafka encodes it, alone in a
 * record batch. The budget `encodeQuarantine` keeps to, and the measure `sendSlices` uses.
 */
export function quarantineBytes(message: QuarantineMessage): number {
  return messageBytes(message) + BATCH_OVERHEAD_BYTES;
}

function ourHeaders(
  entry: QuarantineEntry,
  truncation: Truncation | undefined,
  issues: readonly Issue[] = entry.issues,
): Record<string, string> {
  const first = entry.issues[0];
  return {
    [QUARANTINE_HEADERS.code]: first?.code ?? `${entry.stage}.unknown`,
    [QUARANTINE_HEADERS.stage]: entry.stage,
    [QUARANTINE_HEADERS.issues]: issuesHeader(issues),
    [QUARANTINE_HEADERS.topic]: entry.source.topic,
    [QUARANTINE_HEADERS.partition]: String(entry.source.partition),
    [QUARANTINE_HEADERS.offset]: entry.source.offset,
    [QUARANTINE_HEADERS.timestamp]: entry.source.timestamp,
    [QUARANTINE_HEADERS.mapping]: entry.mapping,
    // Always written (empty when unknown), so an upstream header of that name is never read as ours.
    [QUARANTINE_HEADERS.id]: entry.id ?? '',
    [QUARANTINE_HEADERS.quarantinedAt]: entry.quarantinedAt,
    [QUARANTINE_HEADERS.attempt]: String(entry.attempt),
    // Likewise: empty when the record is whole.
    [QUARANTINE_HEADERS.truncated]: truncation === undefined ? '' : JSON.stringify(truncation),
    // And empty unless the value is a refused batch.
    [QUARANTINE_HEADERS.batch]: entry.batch === undefined ? '' : JSON.stringify(entry.batch),
  };
}

/**
 * The quarantine record, and what it takes in its topic (as `quarantineBytes` counts it),
 * in one pass over the upstream headers: a record with 100,000 headers is walked once.
 */
function build(
  key: Buffer | null,
  value: Buffer | null,
  upstreamHeaders: Headers,
  ours: Record<string, string>,
): { message: QuarantineMessage; bytes: number; upstreamHeaderBytes: number } {
  // No prototype: a header named __proto__ (hostile producers send them) stays a header.
  const headers = Object.create(null) as MessageHeaders;
  let upstreamHeaderBytes = 0;
  for (const name in upstreamHeaders) {
    const value = upstreamHeaders[name];
    if (value === undefined) continue;
    const nameBytes = HEADER_OVERHEAD + Buffer.byteLength(name);
    if (Array.isArray(value)) {
      const all = value as readonly (Buffer | string | null)[];
      if (all.length === 0) continue;
      headers[name] = [...all] as (Buffer | string)[];
      for (const v of all) upstreamHeaderBytes += nameBytes + sizeOf(v);
    } else {
      headers[name] = value as Buffer | string;
      upstreamHeaderBytes += nameBytes + sizeOf(value as Buffer | string | null);
    }
  }
  let bytes =
    BATCH_OVERHEAD_BYTES +
    RECORD_OVERHEAD +
    (key?.length ?? 0) +
    (value?.length ?? 0) +
    upstreamHeaderBytes;
  for (const name in ours) {
    const mine = ours[name] as string;
    bytes += HEADER_OVERHEAD + Buffer.byteLength(name) + Buffer.byteLength(mine);
    const existing = headers[name];
    headers[name] =
      existing === undefined
        ? mine
        : Array.isArray(existing)
          ? [...existing, mine]
          : [existing, mine];
  }
  return { message: { key, value, headers }, bytes, upstreamHeaderBytes };
}

function sizeOf(value: Buffer | string | null): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

export class QuarantineFormatError extends Error {
  override readonly name = 'QuarantineFormatError';
}

/** Reads a quarantine record back: the entry, and the upstream record as it was. */
export function decodeQuarantine(message: QuarantineMessage): {
  readonly entry: QuarantineEntry;
  readonly upstream: {
    readonly key: Buffer | null;
    readonly value: Buffer | null;
    readonly headers: MessageHeaders;
  };
} {
  const headers = Object.assign(Object.create(null) as MessageHeaders, message.headers);
  const take = (name: string, required: boolean): string | undefined => {
    const all = values(headers[name]);
    // A header without a value (null from kafkajs) is not one of ours: the record is not ours.
    const ours = all.pop() as Buffer | string | null | undefined;
    if (ours === undefined || ours === null) {
      if (required)
        throw new QuarantineFormatError(`not a quarantine record: header ${name} is missing`);
      return undefined;
    }
    headers[name] = all.length === 0 ? undefined : all.length === 1 ? all[0] : all;
    return typeof ours === 'string' ? ours : ours.toString('utf8');
  };
  const code = take(QUARANTINE_HEADERS.code, true) as IssueCode;
  const stage = take(QUARANTINE_HEADERS.stage, true) as Stage;
  const issuesText = take(QUARANTINE_HEADERS.issues, true) ?? '[]';
  const topic = take(QUARANTINE_HEADERS.topic, true) ?? '';
  const partition = Number(take(QUARANTINE_HEADERS.partition, true));
  const offset = take(QUARANTINE_HEADERS.offset, true) ?? '';
  const timestamp = take(QUARANTINE_HEADERS.timestamp, true) ?? '';
  const mapping = take(QUARANTINE_HEADERS.mapping, true) ?? '';
  const id = take(QUARANTINE_HEADERS.id, true) || undefined;
  const quarantinedAt = take(QUARANTINE_HEADERS.quarantinedAt, true) ?? '';
  const attempt = Number(take(QUARANTINE_HEADERS.attempt, true));
  // Not required: quarantine records written before membrane wrote this header lack it.
  const truncatedText = take(QUARANTINE_HEADERS.truncated, false);
  const truncated = truncatedText ? parseTruncation(truncatedText) : undefined;
  const batchText = take(QUARANTINE_HEADERS.batch, false);
  const batch = batchText ? parseBatch(batchText) : undefined;
  let issues: Issue[];
  try {
    issues = JSON.parse(issuesText) as Issue[];
  } catch {
    throw new QuarantineFormatError(
      `not a quarantine record: ${QUARANTINE_HEADERS.issues} is not JSON`,
    );
  }
  if (!Array.isArray(issues) || issues[0]?.code !== code) {
    throw new QuarantineFormatError(
      `not a quarantine record: its issues do not start with ${code}`,
    );
  }
  // Names that only we used are gone again.
  for (const name of Object.keys(headers))
    if (headers[name] === undefined) Reflect.deleteProperty(headers, name);
  return {
    entry: {
      source: { topic, partition, offset, timestamp },
      mapping,
      stage,
      issues,
      id,
      quarantinedAt,
      attempt,
      ...(truncated === undefined ? {} : { truncated }),
      ...(batch === undefined ? {} : { batch }),
    },
    upstream: { key: message.key, value: message.value, headers },
  };
}

/** The `membrane.quarantine.batch` header, checked like the truncation header. */
function parseBatch(text: string): QuarantinedBatch {
  const refuse = (): never => {
    throw new QuarantineFormatError(
      `not a quarantine record: ${QUARANTINE_HEADERS.batch} is not what membrane writes`,
    );
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return refuse();
  const { firstOffset, lastOffset, from } = parsed as Record<string, unknown>;
  const offset = (v: unknown): string =>
    typeof v === 'string' && /^(0|[1-9][0-9]{0,18})$/.test(v) ? v : refuse();
  const batch = {
    firstOffset: offset(firstOffset),
    lastOffset: offset(lastOffset),
    ...(from === undefined ? {} : { from: offset(from) }),
  };
  const first = BigInt(batch.firstOffset);
  const last = BigInt(batch.lastOffset);
  if (first > last) refuse();
  if (batch.from !== undefined && (BigInt(batch.from) <= first || BigInt(batch.from) > last))
    refuse();
  return batch;
}

/** The `membrane.quarantine.truncated` header, checked: it is read from a topic anyone may write. */
function parseTruncation(text: string): Truncation {
  const refuse = (): never => {
    throw new QuarantineFormatError(
      `not a quarantine record: ${QUARANTINE_HEADERS.truncated} is not what membrane writes`,
    );
  };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return refuse();
  }
  const count = (v: unknown): number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : refuse();
  const hash = (v: unknown): string =>
    typeof v === 'string' && /^[0-9a-f]{64}$/.test(v) ? v : refuse();
  const object = (v: unknown): Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : refuse();
  const whole = object(parsed);
  const bytes = (v: unknown): TruncatedBytes | undefined => {
    if (v === undefined) return undefined;
    const o = object(v);
    return { bytes: count(o['bytes']), kept: count(o['kept']), sha256: hash(o['sha256']) };
  };
  const value = bytes(whole['value']);
  const key = bytes(whole['key']);
  const h = whole['headers'] === undefined ? undefined : object(whole['headers']);
  const i = whole['issues'] === undefined ? undefined : object(whole['issues']);
  return {
    ...(value === undefined ? {} : { value }),
    ...(key === undefined ? {} : { key }),
    ...(h === undefined
      ? {}
      : {
          headers: {
            count: count(h['count']),
            bytes: count(h['bytes']),
            sha256: hash(h['sha256']),
          },
        }),
    ...(i === undefined
      ? {}
      : { issues: { count: count(i['count']), kept: count(i['kept']), bytes: count(i['bytes']) } }),
  };
}
