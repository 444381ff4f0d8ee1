import { Command } from 'commander';
import { resolveRecords } from '../../../app/quarantine/replay.js';
import { ensureResolutionsTopic } from '../../../app/quarantine/store.js';
import { select, withFilters, withQuarantine, type FilterOptions } from './common.js';

export function resolveCommand(): Command {
  return withFilters(
    new Command('resolve').description(
      'mark records resolved without replaying them (known junk); the reason is recorded',
    ),
  )
    .requiredOption('--reason <text>', 'why, for the next operator')
    .action(async (options: FilterOptions & { reason: string }) => {
      await withQuarantine(async (session) => {
        await ensureResolutionsTopic(session.admin, session.config.MEMBRANE_QUARANTINE_TOPIC);
        const records = await select(session, { ...options, all: false, resolved: false });
        const n = await resolveRecords(
          session.kafka,
          session.config.MEMBRANE_QUARANTINE_TOPIC,
          records,
          options.reason,
          new Date(),
        );
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ resolved: n, refs: records.map((r) => r.ref) })}\n`
            : `Resolved ${n} record(s): ${options.reason}\n`,
        );
      });
    });
}
