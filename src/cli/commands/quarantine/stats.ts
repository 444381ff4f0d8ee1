import { Command } from 'commander';
import type { QuarantinedRecord } from '../../../app/quarantine/store.js';
import { bytesJson, escapeBytes, safeJson } from '../../text.js';
import {
  countLine,
  select,
  table,
  unresolvedIn,
  withQuarantine,
  type Cell,
  type Selection,
  type State,
} from './common.js';
import { stateOf, withStates } from './list.js';
import { checkTimes, hasSelectingFilter, withFilters, type FilterOptions } from './options.js';

/** One group: what its records share (text, or an upstream key's bytes) and how many. */
export type Counted = [Cell, number];

/** What tells groups apart: the exact text or bytes, never a lossy decoding. */
const identity = (value: Cell): string =>
  typeof value === 'string' ? `t${value}` : `b${value.toString('latin1')}`;

/** Groups by `key`, largest first, ties in order of their identity. */
export function countBy(
  records: readonly QuarantinedRecord[],
  key: (r: QuarantinedRecord) => Cell,
): Counted[] {
  const counts = new Map<string, Counted>();
  for (const record of records) {
    const value = key(record);
    const id = identity(value);
    const counted = counts.get(id);
    if (counted) counted[1] += 1;
    else counts.set(id, [value, 1]);
  }
  return [...counts]
    .sort(([a, [, x]], [b, [, y]]) => y - x || (a < b ? -1 : 1))
    .map(([, counted]) => counted);
}

export function quarantineStats(records: readonly QuarantinedRecord[]): Record<string, Counted[]> {
  return {
    code: countBy(records, (r) => r.entry.issues[0]?.code ?? r.entry.stage),
    stage: countBy(records, (r) => r.entry.stage),
    mapping: countBy(records, (r) => r.entry.mapping),
    source: countBy(records, (r) => r.entry.source.topic),
    key: countBy(records, (r) => r.upstream.key ?? '(no key)').slice(0, 10),
  };
}

/**
 * A group's name in `--json`: the exact text; an upstream key as its text when it is UTF-8,
 * else as the table shows it (`\xNN` for each byte that is not UTF-8). JSON names are text:
 * a key that is not UTF-8 has no exact one (`list --json` gives its bytes in base64).
 */
function jsonName(value: Cell): string {
  if (typeof value === 'string') return value;
  const json = bytesJson(value);
  return typeof json === 'string' ? json : escapeBytes(value);
}

/** `[name, count]` pairs as a JSON object; groups that end up with one name add up. */
function countsJson(counted: readonly Counted[]): Record<string, number> {
  const out = Object.create(null) as Record<string, number>;
  for (const [value, n] of counted) out[jsonName(value)] = (out[jsonName(value)] ?? 0) + n;
  return out;
}

/**
 * What `stats` says first: how many of the records the filters match are unresolved, in the
 * words `membrane status` uses (`countLine`); then, unless the groups count just those, which
 * records they count.
 */
export function statsHeadline(
  selection: Selection & { skipped: number },
  state: State,
  options: FilterOptions,
): string {
  const { matching, selected, skipped } = selection;
  const unresolved = unresolvedIn(matching);
  const filtered = hasSelectingFilter(options);
  let out = `${countLine(unresolved, matching.length, filtered ? 0 : skipped)}${filtered ? ' that match the filters' : ''}\n`;
  const inState =
    state === 'all'
      ? matching.length
      : state === 'resolved'
        ? matching.length - unresolved
        : unresolved;
  const which = state === 'all' ? 'records' : state;
  if (selected.length < inState)
    out += `counted below: the first ${selected.length} ${which} (--limit)\n`;
  else if (state === 'resolved') out += `counted below: the ${selected.length} resolved\n`;
  else if (state === 'all') out += `counted below: all ${selected.length}\n`;
  return out;
}

export function statsCommand(): Command {
  return withStates(
    withFilters(
      new Command('stats').description(
        'how many records are unresolved, and counts by code, stage, mapping and source; the top offending keys',
      ),
    ),
  ).action(async (options: FilterOptions & { resolved?: boolean; all?: boolean }) => {
    checkTimes(options);
    await withQuarantine({ name: 'membrane quarantine stats', access: 'read' }, async (session) => {
      const state = stateOf(options);
      const selection = await select(session, options, state);
      const { matching, selected } = selection;
      const stats = quarantineStats(selected);
      const out = process.stdout;
      if (options.json) {
        const unresolved = unresolvedIn(matching);
        out.write(
          `${safeJson({
            total: matching.length,
            unresolved,
            resolved: matching.length - unresolved,
            selected: selected.length,
            notQuarantine: selection.skipped,
            ...Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, countsJson(v)])),
          })}\n`,
        );
        return;
      }
      out.write(statsHeadline(selection, state, options));
      for (const [title, rows] of Object.entries(stats)) {
        out.write(
          `\n${table(
            [title.toUpperCase(), 'COUNT'],
            rows.map(([value, n]) => [value, String(n)]),
          )}`,
        );
      }
    });
  });
}
