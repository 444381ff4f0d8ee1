import { Command } from 'commander';
import {
  select,
  summaryOf,
  table,
  withFilters,
  withQuarantine,
  type FilterOptions,
} from './common.js';

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
        for (const record of records) out.write(`${JSON.stringify(summaryOf(record))}\n`);
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
            r.upstream.key?.toString('utf8').slice(0, 24) ?? '',
            String(r.entry.attempt),
            r.resolution?.status ?? 'unresolved',
          ]),
        ),
      );
      out.write(`${records.length} record(s)\n`);
    });
  });
}
