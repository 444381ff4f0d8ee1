import { Command } from 'commander';
import type { QuarantinedRecord } from '../../../app/quarantine/store.js';
import { select, table, withFilters, withQuarantine, type FilterOptions } from './common.js';

export function countBy(
  records: readonly QuarantinedRecord[],
  key: (r: QuarantinedRecord) => string,
): [string, number][] {
  const counts = new Map<string, number>();
  for (const record of records) counts.set(key(record), (counts.get(key(record)) ?? 0) + 1);
  return [...counts].sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
}

export function quarantineStats(
  records: readonly QuarantinedRecord[],
): Record<string, [string, number][]> {
  return {
    code: countBy(records, (r) => r.entry.issues[0]?.code ?? r.entry.stage),
    stage: countBy(records, (r) => r.entry.stage),
    mapping: countBy(records, (r) => r.entry.mapping),
    source: countBy(records, (r) => r.entry.source.topic),
    key: countBy(records, (r) => r.upstream.key?.toString('utf8') ?? '(no key)').slice(0, 10),
  };
}

export function statsCommand(): Command {
  return withFilters(
    new Command('stats').description(
      'counts by code, stage, mapping and source; the top offending keys',
    ),
  ).action(async (options: FilterOptions) => {
    await withQuarantine(async (session) => {
      const records = await select(session, options);
      const stats = quarantineStats(records);
      const out = process.stdout;
      if (options.json) {
        out.write(
          `${JSON.stringify({ total: records.length, ...Object.fromEntries(Object.entries(stats).map(([k, v]) => [k, Object.fromEntries(v)])) })}\n`,
        );
        return;
      }
      out.write(`${records.length} record(s)\n`);
      for (const [title, rows] of Object.entries(stats)) {
        out.write(
          `\n${table(
            [title.toUpperCase(), 'COUNT'],
            rows.map(([k, n]) => [k, String(n)]),
          )}`,
        );
      }
    });
  });
}
