import type { Admin, Kafka } from 'kafkajs';
import { createKafka } from '../../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../../adapters/kafka/connection.js';
import { withKafkaErrors } from '../../../adapters/kafka/errors.js';
import { compileFilter, type QuarantineFilter } from '../../../app/quarantine/filters.js';
import { replayTransactionalId } from '../../../app/quarantine/replay.js';
import {
  loadQuarantine,
  resolutionsTopic,
  type QuarantinedRecord,
} from '../../../app/quarantine/store.js';
import { loadRunConfig, type RunConfig } from '../../../app/config.js';
import { MembraneError } from '../../../core/errors.js';
import { aclRefusal, type AclNeed } from '../../errors.js';
import {
  bytesJson,
  CELL_COLUMNS,
  displayWidth,
  escapeCell,
  escapeText,
  padEnd,
} from '../../text.js';
import type { FilterOptions } from './options.js';

export interface QuarantineSession {
  readonly config: RunConfig;
  readonly kafka: Kafka;
  readonly admin: Admin;
}

/**
 * What a quarantine command does with the quarantine, for the ACLs it needs: `read` (list,
 * show, stats, any --dry-run), `resolve` (resolve, unresolve: write resolution markers),
 * `replay` (a transaction writing outputs, re-quarantined records and markers) or `unpack` (a
 * transaction writing quarantine records and markers).
 */
export type QuarantineAccess = 'read' | 'resolve' | 'replay' | 'unpack';

/**
 * The ACLs a quarantine command needs (README, "ACLs membrane needs"), which an ACL refusal
 * names. `outputs`: the mappings' output topics, for `replay`.
 */
export function quarantineAcls(
  quarantine: string,
  access: QuarantineAccess,
  outputs: readonly string[] = [],
  group = 'membrane',
): AclNeed[] {
  const read = ['DESCRIBE', 'READ'];
  const writes = access === 'read' ? [] : ['WRITE', 'CREATE'];
  const transactional = access === 'replay' || access === 'unpack';
  return [
    {
      operations: transactional ? [...read, 'WRITE', 'DESCRIBE_CONFIGS'] : read,
      resource: 'topic',
      name: quarantine,
    },
    // CREATE: resolve and replay create the resolutions topic when it is not there yet.
    { operations: [...read, ...writes], resource: 'topic', name: resolutionsTopic(quarantine) },
    ...(access === 'replay'
      ? [
          ...outputs.map((name): AclNeed => ({
            operations: ['DESCRIBE', 'WRITE', 'DESCRIBE_CONFIGS'],
            resource: 'topic',
            name,
          })),
          // Which mapping versions the running members use (their join metadata).
          { operations: ['DESCRIBE'], resource: 'group', name: group } satisfies AclNeed,
        ]
      : []),
    ...(transactional
      ? [
          {
            operations: ['DESCRIBE', 'WRITE'],
            resource: 'transactional ID',
            name: replayTransactionalId(quarantine),
          } satisfies AclNeed,
        ]
      : []),
    // Each topic is read through a throwaway group `membrane-cli.restore.<uuid>`, deleted
    // afterwards (without DELETE it stays behind, empty).
    { operations: ['READ', 'DELETE'], resource: 'group', name: 'membrane-cli.', prefixed: true },
  ];
}

export interface QuarantineCommand {
  /** `membrane quarantine list`: who was refused, in the sentence of an ACL refusal. */
  readonly name: string;
  readonly access: QuarantineAccess;
  /** The output topics, once known (replay loads the mappings inside `work`). */
  readonly outputs?: () => readonly string[];
}

/**
 * Connects, runs `work`, disconnects. Configuration from the same variables as `membrane run`.
 * What kafkajs throws is one sentence: an ACL refusal anywhere in it (kafkajs and membrane
 * nest errors: a restore's failure, a retry wrapper, an aggregate) names the ACLs `command`
 * needs, exit 77.
 */
export async function withQuarantine<T>(
  command: QuarantineCommand,
  work: (session: QuarantineSession) => Promise<T>,
): Promise<T> {
  const config = loadRunConfig();
  const refused = (error: unknown): never => {
    throw aclRefusal(
      error,
      command.name,
      quarantineAcls(
        config.MEMBRANE_QUARANTINE_TOPIC,
        command.access,
        command.outputs?.() ?? [],
        config.MEMBRANE_GROUP_ID,
      ),
    );
  };
  const connection = kafkaConnection(config, 'cli');
  await reachKafka(connection);
  const kafka = createKafka(clientOptions(connection));
  const admin = kafka.admin();
  await withKafkaErrors(() => admin.connect()).catch(refused);
  try {
    return await withKafkaErrors(() => work({ config, kafka, admin })).catch(refused);
  } finally {
    await admin.disconnect();
  }
}

/** Which records a command looks at, by their resolution. */
export type State = 'unresolved' | 'resolved' | 'all';

/** Every quarantine record (oldest first), and how many records were not quarantine records. */
export async function loadAll(
  session: QuarantineSession,
): Promise<{ records: QuarantinedRecord[]; skipped: number }> {
  return loadQuarantine(session.kafka, session.admin, session.config.MEMBRANE_QUARANTINE_TOPIC);
}

export interface Selection {
  /** The records the filters and refs match, resolved or not. */
  readonly matching: readonly QuarantinedRecord[];
  /** Of those, the ones in `state`, cut to --limit: what the command acts on or shows. */
  readonly selected: QuarantinedRecord[];
}

/**
 * The records the filters (and refs, when given) select, oldest first. A ref that names no
 * quarantine record at all is refused, so a typo never reads as "nothing to do".
 */
export function selectFrom(
  records: readonly QuarantinedRecord[],
  options: FilterOptions,
  state: State,
  quarantineTopic: string,
  refs: readonly string[] = [],
): Selection {
  if (refs.length > 0) {
    const known = new Set(records.map((r) => r.ref));
    const missing = refs.filter((ref) => !known.has(ref));
    if (missing.length > 0) {
      throw new MembraneError(
        'cli.not-found',
        `No quarantine record ${missing.join(', ')} in ${escapeText(quarantineTopic)}.`,
        { hint: 'take the REF column of `membrane quarantine list --all`' },
      );
    }
  }
  const wanted = refs.length > 0 ? new Set(refs) : undefined;
  const filter: QuarantineFilter = {
    code: options.code,
    stage: options.stage,
    mapping: options.mapping,
    topic: options.topic,
    partition: options.partition,
    key: options.key,
    since: options.since,
    until: options.until,
    state: 'all',
  };
  const matches = compileFilter(filter);
  const matching = records.filter((r) => (wanted === undefined || wanted.has(r.ref)) && matches(r));
  const inState = matching.filter((r) =>
    state === 'all'
      ? true
      : state === 'resolved'
        ? r.resolution !== undefined
        : r.resolution === undefined,
  );
  return {
    matching,
    selected: options.limit === undefined ? inState : inState.slice(0, options.limit),
  };
}

/** Loads the quarantine and selects from it: see `selectFrom`. */
export async function select(
  session: QuarantineSession,
  options: FilterOptions,
  state: State,
  refs: readonly string[] = [],
): Promise<Selection & { skipped: number }> {
  const { records, skipped } = await loadAll(session);
  return {
    ...selectFrom(records, options, state, session.config.MEMBRANE_QUARANTINE_TOPIC, refs),
    skipped,
  };
}

/** How many of `records` no resolution marker closes yet. */
export function unresolvedIn(records: readonly QuarantinedRecord[]): number {
  let n = 0;
  for (const record of records) if (record.resolution === undefined) n += 1;
  return n;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * The one way `membrane status` and `quarantine stats` say how many records there are:
 * `93 unresolved of 180 quarantine records`, plus the records of the topic that are not
 * quarantine records (written there by something else) when there are any.
 */
export function countLine(unresolved: number, total: number, skipped = 0): string {
  return `${unresolved} unresolved of ${plural(total, 'quarantine record', 'quarantine records')}${
    skipped > 0
      ? ` (and ${skipped === 1 ? '1 record that is not a quarantine record' : `${skipped} records that are not quarantine records`})`
      : ''
  }`;
}

/**
 * A Kafka timestamp (epoch milliseconds, as the quarantine header holds it) as ISO 8601, or
 * undefined when it is none (-1, not a number, out of range): the header is whatever was
 * written to the topic.
 */
export function isoOfEpoch(text: string): string | undefined {
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const at = new Date(Number(text));
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

/** A table cell: text, or raw bytes (an upstream key) shown as `escapeBytes` shows them. */
export type Cell = string | Buffer;

/**
 * Aligned columns. Every cell is escaped (`escapeCell`): whatever an upstream producer put in
 * a key or a topic name reaches the terminal as visible text, and the columns are measured on
 * what is shown. No cell takes more than `CELL_COLUMNS` columns, and `max` cuts a column to
 * fewer; a cut cell ends in `…` (a `…` of its own shows as `\u2026`). The time it takes grows
 * with the number of cells, not with what one holds.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly Cell[])[],
  max: readonly (number | undefined)[] = [],
): string {
  const widths = header.map(() => 0);
  const shown: string[][] = [];
  // Loops, not Math.max(...): a spread passes every row as an argument, on the stack.
  const add = (row: readonly Cell[]): void => {
    const cells = row.map((cell, i) => {
      const text = escapeCell(cell, Math.min(max[i] ?? CELL_COLUMNS, CELL_COLUMNS));
      widths[i] = Math.max(widths[i] ?? 0, displayWidth(text));
      return text;
    });
    shown.push(cells);
  };
  add(header);
  for (const row of rows) add(row);
  const lines: string[] = [];
  for (const row of shown) {
    lines.push(
      row
        .map((cell, i) => padEnd(cell, widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
  }
  return `${lines.join('\n')}\n`;
}

/**
 * One record for `--json`: the true values. The key is its text when it is UTF-8, else
 * `{ "base64": … }` (never a lossy decoding). Print it with `safeJson`.
 */
export function summaryOf(record: QuarantinedRecord): Record<string, unknown> {
  const { entry } = record;
  return {
    ref: record.ref,
    quarantinedAt: entry.quarantinedAt,
    code: entry.issues[0]?.code,
    stage: entry.stage,
    mapping: entry.mapping,
    // The source timestamp as Kafka has it (epoch ms) and as ISO 8601 (null when it is none).
    source: { ...entry.source, time: isoOfEpoch(entry.source.timestamp) ?? null },
    key: bytesJson(record.upstream.key),
    id: entry.id ?? null,
    attempt: entry.attempt,
    issues: entry.issues,
    resolution: record.resolution ?? null,
    // What the quarantine record lost to fit its topic (null: it is byte for byte).
    truncated: entry.truncated ?? null,
  };
}
