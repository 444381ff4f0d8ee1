import {
  deterministicId,
  eventKeyFromCoordinates,
  eventKeyFromId,
  mappingNamespace,
  namespaceBytes,
} from '../../core/ids.js';
import { issue, shown, type Issue } from '../../core/issues.js';
import { headerText, type SourceRecord } from '../../core/records.js';
import {
  compare,
  formatClock,
  merge,
  parseClock,
  type VectorClock,
} from '../../core/vector-clock.js';
import { compilePath, formatFieldPath, getPath, type CompiledPath } from '../paths.js';
import type { ClockPort } from '../ports.js';
import type { DecodedRecord } from './decode.js';

/**
 * stamp — identity and lineage. The deterministic ID is UUIDv5 in the mapping's namespace
 * of the source system + upstream event ID (or the record's coordinates when the mapping
 * names no event ID) + the output index. Correlation and causation IDs are carried from
 * upstream when present, never invented. The vector clock comes from the clock port.
 */
export interface IdentityConfig {
  readonly aggregate?: string | undefined;
  readonly event?: string | undefined;
  readonly correlation?:
    { readonly header?: string | undefined; readonly field?: string | undefined } | undefined;
  readonly causation?:
    { readonly header?: string | undefined; readonly field?: string | undefined } | undefined;
  readonly clock?:
    | {
        readonly header?: string | undefined;
        readonly field?: string | undefined;
        readonly onConcurrent?: 'flag' | 'quarantine' | undefined;
        readonly maxComponents?: number | undefined;
      }
    | undefined;
}

export interface Identity {
  /** The key IDs are derived from; `idFor(index)` gives output `index`'s ID. */
  readonly eventKey: string;
  readonly aggregate: string | undefined;
  readonly correlation: string | undefined;
  readonly causation: string | undefined;
  readonly upstreamClock: VectorClock | undefined;
}

type Carried = (record: DecodedRecord, source: SourceRecord) => string | undefined;

function carried(spec: IdentityConfig['correlation']): Carried {
  if (spec?.header !== undefined) {
    const header = spec.header;
    return (_record, source) => headerText(source.headers, header);
  }
  if (spec?.field !== undefined) {
    const path = compilePath(spec.field);
    return (record) => {
      const value = getPath(record, path);
      return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
    };
  }
  return () => undefined;
}

/**
 * The longest aggregate key or event ID membrane takes: they are kept in task state (clocks,
 * the dedup window) and its changelog, so an upstream value of a megabyte must not be.
 */
export const MAX_IDENTITY_LENGTH = 1024;

function identityValue(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_IDENTITY_LENGTH)
    return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** Why an identity value cannot be used, for the issue message. */
function unusable(raw: unknown): string {
  if (raw === undefined) return 'missing';
  if (typeof raw === 'string' && raw.length > MAX_IDENTITY_LENGTH)
    return `${raw.length} characters long, more than the ${MAX_IDENTITY_LENGTH} allowed`;
  return `not usable: ${shown(raw)}`;
}

export interface Stamper {
  readonly namespace: string;
  identify(
    record: DecodedRecord,
    source: SourceRecord,
  ): { identity: Identity; issues: readonly Issue[] };
  idFor(identity: Identity, index: number): string;
  headers(
    identity: Identity,
    id: string,
    route: string,
    source: SourceRecord,
  ): Record<string, string>;
  /**
   * An issue when the aggregate's clock cannot take this record: merged with the upstream
   * clock it would have more than `maxComponents` components (state must stay bounded), or
   * the mapping quarantines concurrent upstream clocks and this one is. Reads the clock
   * without advancing it.
   */
  clockIssue(identity: Identity, clocks: ClockPort): Issue | undefined;
  /** Advances the aggregate's clock once per upstream record; the headers to add. */
  clockHeaders(identity: Identity, clocks: ClockPort): Record<string, string>;
}

export function createStamper(
  mapping: { name: string; version: number; system: string },
  config: IdentityConfig,
): Stamper {
  const namespace = mappingNamespace(mapping.name);
  const namespaceKey = namespaceBytes(namespace);
  const eventPath: CompiledPath | undefined = config.event ? compilePath(config.event) : undefined;
  const aggregatePath: CompiledPath | undefined = config.aggregate
    ? compilePath(config.aggregate)
    : undefined;
  const correlation = carried(config.correlation);
  const causation = carried(config.causation);
  const clockText = carried(config.clock);
  const maxComponents = config.clock?.maxComponents ?? 32;
  const mappingRef = `${mapping.name}@${mapping.version}`;

  return {
    namespace,
    identify(record, source) {
      const issues: Issue[] = [];
      let eventKey: string;
      if (eventPath) {
        const raw = getPath(record, eventPath);
        const id = identityValue(raw);
        if (id === undefined) {
          issues.push(
            issue(
              'stamp.missing-identity',
              formatFieldPath(eventPath),
              `event ID is ${unusable(raw)}`,
            ),
          );
        }
        eventKey = eventKeyFromId(mapping.system, id ?? '');
      } else {
        eventKey = eventKeyFromCoordinates(source.topic, source.partition, source.offset);
      }
      let aggregate: string | undefined;
      if (aggregatePath) {
        const raw = getPath(record, aggregatePath);
        aggregate = identityValue(raw);
        if (aggregate === undefined) {
          issues.push(
            issue(
              'stamp.missing-identity',
              formatFieldPath(aggregatePath),
              `aggregate key is ${unusable(raw)}`,
            ),
          );
        }
      }
      const clock = clockText(record, source);
      let upstreamClock: VectorClock | undefined;
      if (clock !== undefined) {
        upstreamClock = parseClock(clock);
        const where =
          config.clock?.header !== undefined
            ? `headers.${config.clock.header}`
            : (config.clock?.field ?? '');
        if (upstreamClock === undefined) {
          issues.push(issue('stamp.invalid-clock', where, `not a vector clock: ${shown(clock)}`));
        } else if (Object.keys(upstreamClock).length > maxComponents) {
          issues.push(
            issue(
              'stamp.invalid-clock',
              where,
              `${Object.keys(upstreamClock).length} components, more than the ${maxComponents} allowed`,
            ),
          );
          upstreamClock = undefined;
        }
      }
      return {
        identity: {
          eventKey,
          aggregate,
          correlation: correlation(record, source),
          causation: causation(record, source),
          upstreamClock,
        },
        issues,
      };
    },
    idFor(identity, index) {
      return deterministicId(namespaceKey, identity.eventKey, index);
    },
    headers(identity, id, route, source) {
      const headers: Record<string, string> = {
        'membrane.id': id,
        'membrane.mapping': mappingRef,
        'membrane.route': route,
        'membrane.source.system': mapping.system,
        'membrane.source.topic': source.topic,
        'membrane.source.partition': String(source.partition),
        'membrane.source.offset': source.offset,
        'membrane.source.timestamp': source.timestamp,
      };
      if (identity.aggregate !== undefined) headers['membrane.aggregate'] = identity.aggregate;
      if (identity.correlation !== undefined)
        headers['membrane.correlation-id'] = identity.correlation;
      if (identity.causation !== undefined) headers['membrane.causation-id'] = identity.causation;
      return headers;
    },
    clockIssue(identity, clocks) {
      if (identity.aggregate === undefined || identity.upstreamClock === undefined)
        return undefined;
      const where =
        config.clock?.header !== undefined
          ? `headers.${config.clock.header}`
          : (config.clock?.field ?? '');
      const current = clocks.current(identity.aggregate) ?? {};
      const merged = merge(current, identity.upstreamClock);
      const components = Object.keys(merged).length + (mapping.system in merged ? 0 : 1);
      if (components > maxComponents) {
        return issue(
          'stamp.invalid-clock',
          where,
          `merged with ${formatClock(current)} of ${identity.aggregate}, the clock would have ${components} components, more than the ${maxComponents} allowed`,
        );
      }
      if (config.clock?.onConcurrent !== 'quarantine') return undefined;
      if (compare(identity.upstreamClock, current) !== 'concurrent') return undefined;
      return issue(
        'stamp.concurrent-clock',
        where,
        `upstream clock ${formatClock(identity.upstreamClock)} is concurrent with ${formatClock(current)} of ${identity.aggregate}`,
      );
    },
    clockHeaders(identity, clocks): Record<string, string> {
      if (identity.aggregate === undefined) return {};
      const { clock, concurrent } = clocks.advance(
        identity.aggregate,
        mapping.system,
        identity.upstreamClock,
      );
      return concurrent
        ? { 'membrane.vclock': formatClock(clock), 'membrane.concurrent': 'true' }
        : { 'membrane.vclock': formatClock(clock) };
    },
  };
}
