import { Command, Option } from 'commander';
import type { Admin, Kafka } from 'kafkajs';
import { createKafka } from '../../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../../adapters/kafka/connection.js';
import { withKafkaErrors } from '../../../adapters/kafka/errors.js';
import {
  compileFilter,
  parseTime,
  type QuarantineFilter,
} from '../../../app/quarantine/filters.js';
import { loadQuarantine, type QuarantinedRecord } from '../../../app/quarantine/store.js';
import { loadRunConfig, type RunConfig } from '../../../app/config.js';
import { MembraneError } from '../../../core/errors.js';
import { bytesJson, CELL_COLUMNS, displayWidth, escapeCell, padEnd } from '../../text.js';

export interface FilterOptions {
  code?: string;
  stage?: string;
  mapping?: string;
  topic?: string;
  partition?: string;
  key?: string;
  since?: string;
  until?: string;
  resolved?: boolean;
  all?: boolean;
  limit?: string;
  json?: boolean;
}

/** The selection options every quarantine command shares. */
export function withFilters(command: Command): Command {
  return command
    .option('--code <glob>', 'code of the first issue, a glob: trust.*, map.cast-failed')
    .option('--stage <stage>', 'decode, trust, upcast, route, map, validate, stamp or encode')
    .option('--mapping <name[@version]>', 'the mapping that refused the record')
    .option('--topic <topic>', 'the upstream topic')
    .option('--partition <n>', 'the upstream partition')
    .option('--key <key>', 'the upstream record key (the aggregate, for keyed producers)')
    .option('--since <time>', 'quarantined at or after: 2h, 30m, 7d, or an ISO 8601 time')
    .option('--until <time>', 'quarantined at or before: a duration ago, or an ISO 8601 time')
    .addOption(new Option('--resolved', 'only records already resolved').conflicts('all'))
    .option('--all', 'resolved and unresolved records (default: unresolved only)')
    .option('--limit <n>', 'at most this many records')
    .option('--json', 'one JSON object per line instead of a table');
}

function count(text: string | undefined, option: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) {
    throw new MembraneError('cli.invalid-option', `${option} ${text} is not a whole number.`, {
      hint: `give ${option} like 10`,
    });
  }
  return n;
}

export function filterFrom(
  options: FilterOptions,
  now: Date,
): { filter: QuarantineFilter; limit: number | undefined } {
  return {
    filter: {
      code: options.code,
      stage: options.stage,
      mapping: options.mapping,
      topic: options.topic,
      partition: count(options.partition, '--partition'),
      key: options.key,
      since: options.since === undefined ? undefined : parseTime(options.since, now, '--since'),
      until: options.until === undefined ? undefined : parseTime(options.until, now, '--until'),
      state: options.all ? 'all' : options.resolved ? 'resolved' : 'unresolved',
    },
    limit: count(options.limit, '--limit'),
  };
}

export interface QuarantineSession {
  readonly config: RunConfig;
  readonly kafka: Kafka;
  readonly admin: Admin;
}

/** Connects, runs `work`, disconnects. Configuration from the same variables as `membrane run`. */
export async function withQuarantine<T>(
  work: (session: QuarantineSession) => Promise<T>,
): Promise<T> {
  const config = loadRunConfig();
  const connection = kafkaConnection(config, 'cli');
  await reachKafka(connection);
  const kafka = createKafka(clientOptions(connection));
  const admin = kafka.admin();
  // What kafkajs throws (an ACL refusing the quarantine topic: exit 77) is one sentence.
  await withKafkaErrors(() => admin.connect());
  try {
    return await withKafkaErrors(() => work({ config, kafka, admin }));
  } finally {
    await admin.disconnect();
  }
}

/** The quarantine records the options select, oldest first. */
export async function select(
  session: QuarantineSession,
  options: FilterOptions,
): Promise<QuarantinedRecord[]> {
  const { filter, limit } = filterFrom(options, new Date());
  const { records } = await loadQuarantine(
    session.kafka,
    session.admin,
    session.config.MEMBRANE_QUARANTINE_TOPIC,
  );
  const selected = records.filter(compileFilter(filter));
  return limit === undefined ? selected : selected.slice(0, limit);
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
    source: entry.source,
    key: bytesJson(record.upstream.key),
    id: entry.id ?? null,
    attempt: entry.attempt,
    issues: entry.issues,
    resolution: record.resolution ?? null,
    // What the quarantine record lost to fit its topic (null: it is byte for byte).
    truncated: entry.truncated ?? null,
  };
}
