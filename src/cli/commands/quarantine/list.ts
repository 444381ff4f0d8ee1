import { Command, Option } from 'commander';
import type { QuarantinedRecord } from '../../../app/quarantine/store.js';
import { safeJson } from '../../text.js';
import { select, summaryOf, table, withQuarantine, type State } from './common.js';
import { checkTimes, withFilters, type FilterOptions } from './options.js';

/** Columns the KEY column takes at most (escapes count as what they show). */
export const KEY_COLUMNS = 24;
/** Columns the REASON column (the first issue's message) takes at most. */
export const REASON_COLUMNS = 60;

export const LIST_HEADER = [
  'REF',
  'QUARANTINED',
  'CODE',
  'MAPPING',
  'SOURCE',
  'KEY',
  'ATTEMPT',
  'STATE',
  'REASON',
] as const;

/**
 * The table `list` prints, and `resolve --dry-run` and `unresolve --dry-run` too: one row per
 * record, every cell escaped and cut (see `table`).
 */
export function listTable(records: readonly QuarantinedRecord[]): string {
  return table(
    LIST_HEADER,
    records.map((r) => [
      r.ref,
      r.entry.quarantinedAt.replace(/\.\d+Z$/, 'Z'),
      r.entry.issues[0]?.code ?? r.entry.stage,
      r.entry.mapping,
      `${r.entry.source.topic}/${r.entry.source.partition}/${r.entry.source.offset}`,
      r.upstream.key ?? '',
      String(r.entry.attempt),
      r.resolution?.status ?? 'unresolved',
      // The issues are JSON from a header, typed by nothing: `escapeCell` shows a number
      // where text was meant as its text.
      r.entry.issues[0]?.message ?? '',
    ]),
    [
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      KEY_COLUMNS,
      undefined,
      undefined,
      REASON_COLUMNS,
    ],
  );
}

/** `list` and `stats` choose by resolution; the commands that write have their own --all. */
export function withStates(command: Command): Command {
  return command
    .addOption(new Option('--resolved', 'only records already resolved').conflicts('all'))
    .option('--all', 'resolved and unresolved records (default: unresolved only)');
}

export function stateOf(options: { resolved?: boolean; all?: boolean }): State {
  return options.all ? 'all' : options.resolved ? 'resolved' : 'unresolved';
}

export function listCommand(): Command {
  return withStates(
    withFilters(
      new Command('list').description(
        'quarantined records, oldest first (unresolved unless --resolved or --all)',
      ),
    ),
  ).action(async (options: FilterOptions & { resolved?: boolean; all?: boolean }) => {
    checkTimes(options);
    await withQuarantine({ name: 'membrane quarantine list', access: 'read' }, async (session) => {
      const { selected } = await select(session, options, stateOf(options));
      const out = process.stdout;
      if (options.json) {
        for (const record of selected) out.write(`${safeJson(summaryOf(record))}\n`);
        return;
      }
      out.write(listTable(selected));
      out.write(`${selected.length} record(s)\n`);
    });
  });
}
