import { Command, Option } from 'commander';
import { resolveRecords } from '../../../app/quarantine/replay.js';
import { ensureResolutionsTopic } from '../../../app/quarantine/store.js';
import { escapeText, safeJson } from '../../text.js';
import { select, summaryOf, withQuarantine, type QuarantineCommand } from './common.js';
import { listTable } from './list.js';
import {
  checkTimes,
  parseReason,
  requireSelection,
  withFilters,
  withRefs,
  type FilterOptions,
} from './options.js';

export interface ResolveOptions extends FilterOptions {
  reason: string;
  all?: boolean;
  dryRun?: boolean;
}

export function resolveCommand(): Command {
  return withRefs(
    withFilters(
      new Command('resolve').description(
        'mark unresolved records resolved without replaying them (known junk); the reason is recorded',
      ),
    ),
    'resolve',
  )
    .addOption(
      new Option('--reason <text>', 'why, for the next operator')
        .makeOptionMandatory()
        .argParser(parseReason),
    )
    .option(
      '--all',
      'every unresolved record: needed when no filter or ref says which (never resolved ones: they are left as they are)',
    )
    .option('--dry-run', 'show the records it would resolve, as `list` does; write nothing')
    .action(async (refs: string[], options: ResolveOptions) => {
      // Before connecting: a command that would resolve the whole quarantine says so first.
      requireSelection(options, refs, 'resolve', 'every unresolved record');
      checkTimes(options);
      const command: QuarantineCommand = {
        name: 'membrane quarantine resolve',
        access: options.dryRun ? 'read' : 'resolve',
      };
      await withQuarantine(command, async (session) => {
        const { selected } = await select(session, options, 'unresolved', refs);
        const out = process.stdout;
        if (options.dryRun) {
          if (options.json) {
            for (const record of selected) out.write(`${safeJson(summaryOf(record))}\n`);
            return;
          }
          out.write(listTable(selected));
          out.write(
            `${selected.length} record(s) would be resolved: ${escapeText(options.reason)} — nothing written (dry run)\n`,
          );
          return;
        }
        if (selected.length > 0)
          await ensureResolutionsTopic(session.admin, session.config.MEMBRANE_QUARANTINE_TOPIC);
        const n = await resolveRecords(
          session.kafka,
          session.config.MEMBRANE_QUARANTINE_TOPIC,
          selected,
          options.reason,
          new Date(),
        );
        out.write(
          options.json
            ? `${safeJson({ resolved: n, refs: selected.map((r) => r.ref) })}\n`
            : `Resolved ${n} record(s): ${escapeText(options.reason)}\n`,
        );
      });
    });
}
