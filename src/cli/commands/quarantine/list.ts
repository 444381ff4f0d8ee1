import { Command } from 'commander';
import { safeJson } from '../../text.js';
import {
  select,
  summaryOf,
  table,
  withFilters,
  withQuarantine,
  type FilterOptions,
} from './common.js';

/** Columns the KEY column takes at most (escapes count as what they show). */
export const KEY_COLUMNS = 24;

export function listCommand(): Command {
  return withFilters(
    new Command('list').description(
      'quarantined records, oldest first (unresolved unless --resolved or --all)',
    ),
  ).action(async (options: FilterOptions) => {
    await withQuarantine(async (session) => {
      const records = await select(session, options);
      const out = process.stdout;
      if (options.json) {
        for (const record of records) out.write(`${safeJson(summaryOf(record))}\n`);
        return;
      }
      out.write(
        table(
          ['REF', 'QUARANTINED', 'CODE', 'MAPPING', 'SOURCE', 'KEY', 'ATTEMPT', 'STATE'],
          records.map((r) => [
            r.ref,
            r.entry.quarantinedAt.replace(/\.\d+Z$/, 'Z'),
            r.entry.issues[0]?.code ?? r.entry.stage,
            r.entry.mapping,
            `${r.entry.source.topic}/${r.entry.source.partition}/${r.entry.source.offset}`,
            r.upstream.key ?? '',
            String(r.entry.attempt),
            r.resolution?.status ?? 'unresolved',
          ]),
          [undefined, undefined, undefined, undefined, undefined, KEY_COLUMNS],
        ),
      );
      out.write(`${records.length} record(s)\n`);
    });
  });
}
