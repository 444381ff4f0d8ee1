import { issue, stageOf, type Issue } from '../core/issues.js';
import type { OutputRecord, PipelineResult, RefusedBatch, SourceRecord } from '../core/records.js';
import type { DropCause, DropKind } from '../core/verdict.js';
import type { CompiledExpression } from './cel.js';
import type { ClockPort, DedupPort } from './ports.js';
import type { DecodeStage } from './stages/decode.js';
import { encodeRecord, type EncodeTarget } from './stages/encode.js';
import type { MapStage } from './stages/map.js';
import { createRouteStage } from './stages/route.js';
import type { Stamper } from './stages/stamp.js';
import type { TrustStage } from './stages/trust.js';
import type { UpcastStage } from './stages/upcast.js';
import type { ValidateStage } from './stages/validate.js';

export interface CompiledRoute {
  readonly name: string;
  readonly when: CompiledExpression | undefined;
  /** Set for a route that drops on purpose. */
  readonly drop: string | undefined;
  readonly targets: readonly EncodeTarget[];
  readonly map: MapStage | undefined;
  readonly validate: ValidateStage | undefined;
}

export interface PipelineParts {
  readonly name: string;
  readonly version: number;
  readonly system: string;
  readonly topics: readonly string[];
  readonly trust: TrustStage;
  readonly decode: DecodeStage;
  readonly upcast: UpcastStage | undefined;
  readonly routes: readonly CompiledRoute[];
  readonly otherwise: 'quarantine' | { readonly drop: string };
  readonly stamper: Stamper;
  readonly clocks: ClockPort | undefined;
}

/**
 * What one record may carry besides its key and value, checked before anything else runs:
 * a producer that floods headers costs membrane no more than their bytes. Far above what
 * any legitimate producer sends (tracing and lineage use a dozen headers).
 */
export interface EnvelopeLimits {
  /** Headers on one record, repeated names counted each time. */
  readonly maxHeaders: number;
  /** Header names and values together, in bytes. */
  readonly maxHeaderBytes: number;
  /**
   * Key and value together, in bytes, as decompressed. The broker checks its limit against
   * the compressed batch, so a record can be far larger than any topic takes.
   */
  readonly maxRecordBytes: number;
}

export const DEFAULT_ENVELOPE_LIMITS: EnvelopeLimits = {
  maxHeaders: 1000,
  maxHeaderBytes: 256 * 1024,
  maxRecordBytes: 16 * 1024 * 1024,
};

const CODEC_NAMES = ['uncompressed', 'gzip', 'snappy', 'lz4', 'zstd'];

/** The issue of a batch that could not be decoded into records (see SourceRecord.refusedBatch). */
function batchRefused(batch: RefusedBatch): Issue {
  const codec = CODEC_NAMES[batch.compression] ?? `codec ${String(batch.compression)}`;
  return issue(
    'trust.batch-refused',
    '',
    `the ${codec} batch at offsets ${batch.firstOffset}–${batch.lastOffset} could not be decoded into records (${batch.reason}); the value is the batch as stored, these offsets are committed past (limits MEMBRANE_MAX_BATCH_RECORDS, MEMBRANE_MAX_BATCH_BYTES)${batch.from === undefined ? '' : `; its records before offset ${batch.from} were processed before it was refused, only ${batch.from}–${batch.lastOffset} were not`}`,
  );
}

/** The issue of a record beyond the envelope limits, or undefined. Linear in its headers. */
export function checkEnvelope(source: SourceRecord, limits: EnvelopeLimits): Issue | undefined {
  if (source.refusedBatch !== undefined) return batchRefused(source.refusedBatch);
  const recordBytes = (source.key?.length ?? 0) + (source.value?.length ?? 0);
  if (recordBytes > limits.maxRecordBytes) {
    return issue(
      'trust.record-too-large',
      '',
      `key and value take ${recordBytes} bytes, more than ${limits.maxRecordBytes} (limit MEMBRANE_MAX_RECORD_BYTES)`,
    );
  }
  const names = Object.keys(source.headers);
  let count = 0;
  let bytes = 0;
  for (const name of names) {
    const value = source.headers[name];
    const values = Array.isArray(value)
      ? (value as readonly (Buffer | string | null)[])
      : [value as Buffer | string | null | undefined];
    count += values.length;
    if (count > limits.maxHeaders) break;
    for (const v of values) {
      bytes +=
        Buffer.byteLength(name) +
        (v === undefined || v === null
          ? 0
          : typeof v === 'string'
            ? Buffer.byteLength(v)
            : v.length);
    }
  }
  if (count > limits.maxHeaders) {
    return issue(
      'trust.too-many-headers',
      'headers',
      `more than ${limits.maxHeaders} headers (${names.length} names; limit MEMBRANE_MAX_HEADERS)`,
    );
  }
  if (bytes > limits.maxHeaderBytes) {
    return issue(
      'trust.headers-too-large',
      'headers',
      `${bytes} bytes of headers, more than ${limits.maxHeaderBytes} (limit MEMBRANE_MAX_HEADER_BYTES)`,
    );
  }
  return undefined;
}

/** The drop reason of a record whose ID was already emitted (`drop.duplicate`). */
export const DUPLICATE = 'duplicate';

/** Distinct stage drop causes a pipeline keeps, so that a chunk counts them by identity. */
const MAX_STAGE_DROP_CAUSES = 256;

function dropped(cause: DropCause, id: string | undefined): PipelineResult {
  return { kind: 'drop', reason: cause.reason, cause, id };
}

function failed(issues: readonly Issue[], id: string | undefined): PipelineResult {
  const first = issues[0];
  return { kind: 'quarantine', stage: first ? stageOf(first.code) : 'decode', issues, id };
}

/**
 * One mapping, compiled: envelope limits → trust → decode → upcast → route → map → validate → stamp → encode.
 * Never throws for bad data (that is a quarantine result); throws only what the ports throw
 * (a registry that cannot be reached), which the runtime retries.
 */
export class Pipeline {
  readonly name: string;
  readonly version: number;
  readonly system: string;
  readonly topics: readonly string[];
  readonly ref: string;
  /**
   * A digest of the mapping's text (comments and layout aside), set by whoever loaded it from
   * a file: two members running `legacy-orders@3` with different digests run different
   * mappings under one version number.
   */
  digest: string | undefined;
  private readonly parts: PipelineParts;
  private readonly route: ReturnType<typeof createRouteStage<CompiledRoute>>;
  private outputLimits: ReadonlyMap<string, number> = new Map();
  private envelopeLimits: EnvelopeLimits = DEFAULT_ENVELOPE_LIMITS;
  /** The drops the mapping says, made once: a dropped record allocates no cause of its own. */
  private readonly duplicate: DropCause = {
    kind: 'duplicate',
    route: undefined,
    reason: DUPLICATE,
  };
  private readonly otherwiseDrop: DropCause | undefined;
  private readonly routeDrops = new Map<CompiledRoute, DropCause>();
  private readonly stageDrops = new Map<string, DropCause>();

  constructor(parts: PipelineParts) {
    this.parts = parts;
    this.name = parts.name;
    this.version = parts.version;
    this.system = parts.system;
    this.topics = parts.topics;
    this.ref = `${parts.name}@${parts.version}`;
    this.route = createRouteStage(parts.routes);
    this.otherwiseDrop =
      parts.otherwise === 'quarantine'
        ? undefined
        : { kind: 'otherwise', route: undefined, reason: parts.otherwise.drop };
    for (const route of parts.routes) {
      if (route.drop !== undefined)
        this.routeDrops.set(route, {
          kind: 'route',
          route: route.name,
          reason: `${route.name}: ${route.drop}`,
        });
    }
  }

  /**
   * The drops this mapping can make by its own configuration (a redelivered duplicate, each
   * route that drops, `otherwise: drop`), for counters that start at zero. A stage that returns
   * a drop verdict adds its own at run time.
   */
  drops(): DropCause[] {
    return [
      this.duplicate,
      ...this.routeDrops.values(),
      ...(this.otherwiseDrop ? [this.otherwiseDrop] : []),
    ];
  }

  /** A stage's drop: the same cause object for the same kind, route and reason. */
  private stageDrop(kind: DropKind, route: string | undefined, reason: string): DropCause {
    const key = `${kind}\0${route ?? ''}\0${reason}`;
    let cause = this.stageDrops.get(key);
    if (cause === undefined) {
      cause = { kind, route, reason };
      // Reasons a stage makes up per record would grow the cache for ever: past the bound,
      // each such drop gets a cause of its own (still counted by kind and route).
      if (this.stageDrops.size < MAX_STAGE_DROP_CAUSES) this.stageDrops.set(key, cause);
    }
    return cause;
  }

  /**
   * The largest record each output topic takes (its `max.message.bytes`), as the runtime
   * finds them at startup. A translated record that would not fit is quarantined as
   * `encode.too-large` instead of failing its produce for ever. Topics not named: no limit.
   */
  limitOutputs(limits: ReadonlyMap<string, number>): void {
    this.outputLimits = limits;
  }

  /** The output topic's `max.message.bytes`, when the runtime told it (see `limitOutputs`). */
  outputLimit(topic: string): number | undefined {
    return this.outputLimits.get(topic);
  }

  /** What one record may carry (`MEMBRANE_MAX_HEADERS`, `…_HEADER_BYTES`, `…_RECORD_BYTES`). */
  limitEnvelope(limits: EnvelopeLimits): void {
    this.envelopeLimits = limits;
  }

  /** Every output topic, for topic checks and creation. */
  outputTopics(): string[] {
    return [...new Set(this.parts.routes.flatMap((r) => r.targets.map((t) => t.topic)))];
  }

  /**
   * Runs one record through the stages. `clocks` overrides the compiled clock port: the
   * runtime passes the state of the task the record belongs to.
   */
  async process(
    source: SourceRecord,
    clocks: ClockPort | undefined = this.parts.clocks,
    dedup?: DedupPort,
  ): Promise<PipelineResult> {
    const p = this.parts;
    const beyond = checkEnvelope(source, this.envelopeLimits);
    if (beyond !== undefined) return failed([beyond], undefined);
    const trusted = p.trust(source);
    if (trusted.kind === 'quarantine') return failed(trusted.issues, undefined);

    const decodedOrPromise = p.decode(source);
    const decoded = decodedOrPromise instanceof Promise ? await decodedOrPromise : decodedOrPromise;
    if (decoded.kind === 'quarantine') return failed(decoded.issues, undefined);
    if (decoded.kind === 'drop')
      return dropped(this.stageDrop('decode', undefined, decoded.reason), undefined);

    let record = decoded.value;
    if (p.upcast) {
      const upcasted = p.upcast(record);
      if (upcasted.kind === 'quarantine') return failed(upcasted.issues, undefined);
      if (upcasted.kind === 'drop')
        return dropped(this.stageDrop('upcast', undefined, upcasted.reason), undefined);
      record = upcasted.value;
    }

    const { identity, issues: identityIssues } = p.stamper.identify(record, source);
    const firstId = identityIssues.length === 0 ? p.stamper.idFor(identity, 0) : undefined;
    // An upstream redelivery of an event already translated: the same ID, dropped and counted.
    if (firstId !== undefined && dedup?.seen(firstId)) return dropped(this.duplicate, firstId);

    const routed = this.route(record, source);
    if (routed.kind === 'no-match') {
      if (this.otherwiseDrop !== undefined) return dropped(this.otherwiseDrop, firstId);
      const detail =
        routed.errors.length > 0 ? `; conditions that failed: ${routed.errors.join('; ')}` : '';
      return failed(
        [{ code: 'route.no-match', path: '', message: `no route matched${detail}` }],
        firstId,
      );
    }
    const route = routed.route;
    const routeDrop = this.routeDrops.get(route);
    if (routeDrop !== undefined) return dropped(routeDrop, firstId);
    if (identityIssues.length > 0) return failed(identityIssues, undefined);
    if (!route.map || !route.validate) throw new Error(`route ${route.name} has no map`);

    const mapped = route.map(record);
    if (mapped.kind !== 'pass')
      return mapped.kind === 'drop'
        ? dropped(this.stageDrop('map', route.name, mapped.reason), firstId)
        : failed(mapped.issues, firstId);
    const valid = route.validate(mapped.value, record);
    if (valid.kind !== 'pass')
      return valid.kind === 'drop'
        ? dropped(this.stageDrop('validate', route.name, valid.reason), firstId)
        : failed(valid.issues, firstId);
    const payload = valid.value;

    const encoded = [];
    for (const target of route.targets) {
      const bytes = encodeRecord(target, payload);
      if (bytes.kind !== 'pass')
        return bytes.kind === 'drop'
          ? dropped(this.stageDrop('encode', route.name, bytes.reason), firstId)
          : failed(bytes.issues, firstId);
      encoded.push({ target, bytes: bytes.value });
    }
    // IDs and lineage headers first, so a record too large for its topic is refused before
    // its clock moves (a refused record must not take a clock tick).
    const stamped = encoded.map(({ target, bytes }, index) => {
      const id = index === 0 && firstId !== undefined ? firstId : p.stamper.idFor(identity, index);
      return { target, bytes, id, headers: p.stamper.headers(identity, id, route.name, source) };
    });
    if (this.outputLimits.size > 0) {
      const tooLarge = this.tooLarge(stamped);
      if (tooLarge) return failed([tooLarge], firstId);
    }
    const clockIssue = clocks ? p.stamper.clockIssue(identity, clocks) : undefined;
    if (clockIssue) return failed([clockIssue], firstId);
    const clockHeaders = clocks ? p.stamper.clockHeaders(identity, clocks) : {};
    const outputs: OutputRecord[] = stamped.map(({ target, bytes, id, headers }) => ({
      topic: target.topic,
      key: bytes.key,
      value: bytes.value,
      headers: Object.assign(headers, clockHeaders),
      id,
      route: route.name,
      payload,
      aggregate: identity.aggregate,
    }));
    if (firstId !== undefined) dedup?.remember(firstId);
    return { kind: 'pass', outputs };
  }

  /**
   * Whether an output would exceed its topic's limit: key, value, membrane's lineage headers,
   * and an allowance for the clock header and the batch framing.
   */
  private tooLarge(
    stamped: readonly {
      target: { topic: string };
      bytes: { key: Buffer | null; value: Buffer };
      headers: Record<string, string>;
    }[],
  ): Issue | undefined {
    for (const { target, bytes, headers } of stamped) {
      const limit = this.outputLimits.get(target.topic);
      if (limit === undefined) continue;
      let size = (bytes.key?.length ?? 0) + bytes.value.length + FRAMING_ALLOWANCE;
      for (const name in headers) size += name.length + Buffer.byteLength(headers[name] ?? '');
      if (size > limit) {
        return {
          code: 'encode.too-large',
          path: '',
          message: `the record for ${target.topic} would take about ${size} bytes; the topic takes at most ${limit} (max.message.bytes)`,
        };
      }
    }
    return undefined;
  }
}

/** Record batch and record framing plus the vector clock header, generously. */
const FRAMING_ALLOWANCE = 1024;
