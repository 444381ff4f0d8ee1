import { Command, Option } from 'commander';
import { decodingLimits, limitDecoding } from '../../../adapters/kafka/codecs.js';
import { isRefusedBatch, unpack, type UnpackOutcome } from '../../../app/quarantine/unpack.js';
import { ensureResolutionsTopic } from '../../../app/quarantine/store.js';
import { escapeText, safeJson } from '../../text.js';
import { select, withQuarantine, type QuarantineCommand } from './common.js';
import {
  checkTimes,
  requireSelection,
  wholeNumber,
  withFilters,
  withRefs,
  type FilterOptions,
} from './options.js';

/** One refused batch's line: what it became, or why not. */
function describe(outcome: UnpackOutcome, dryRun: boolean): string {
  switch (outcome.kind) {
    case 'unpacked':
      return outcome.records === 0
        ? `  ${outcome.ref}  ${dryRun ? 'would be resolved' : 'resolved'}: none of its records was left unprocessed`
        : `  ${outcome.ref}  ${dryRun ? 'would unpack into' : 'unpacked into'} ${outcome.records} record(s), offsets ${outcome.from}–${outcome.to}`;
    case 'undecodable':
      return `  ${outcome.ref}  cannot be decoded: ${escapeText(outcome.reason)}`;
    case 'skipped':
      return `  ${outcome.ref}  skipped: ${escapeText(outcome.reason)}`;
    case 'resolved-meanwhile':
      return `  ${outcome.ref}  resolved meanwhile (${escapeText(`${outcome.resolution.status} by ${outcome.resolution.by} at ${outcome.resolution.at}`)})`;
  }
}

export interface UnpackCommandOptions extends FilterOptions {
  all?: boolean;
  dryRun?: boolean;
  maxBatchRecords?: number;
  maxBatchBytes?: number;
  maxHeaders?: number;
}

export function unpackCommand(): Command {
  return withRefs(
    withFilters(
      new Command('unpack').description(
        'split unresolved refused batches (trust.batch-refused) into one quarantine record per record they hold, for `replay`',
      ),
    ),
    'unpack',
  )
    .option(
      '--all',
      'every unresolved refused batch: needed when no filter or ref says which (other records are left alone)',
    )
    .option('--dry-run', 'decode and show what each batch would become; write nothing')
    .addOption(
      new Option(
        '--max-batch-records <n>',
        'records a batch may hold (default: MEMBRANE_MAX_BATCH_RECORDS); raise it for a batch refused for its size',
      ).argParser(wholeNumber('--max-batch-records', 1)),
    )
    .addOption(
      new Option(
        '--max-headers <n>',
        'headers one record may carry (default: MEMBRANE_MAX_HEADERS); a batch with a record carrying more is left unresolved',
      ).argParser(wholeNumber('--max-headers', 1)),
    )
    .addOption(
      new Option(
        '--max-batch-bytes <n>',
        'bytes a batch may decompress to (default: MEMBRANE_MAX_BATCH_BYTES)',
      ).argParser(wholeNumber('--max-batch-bytes', 1)),
    )
    .action(async (refs: string[], options: UnpackCommandOptions) => {
      requireSelection(options, refs, 'unpack', 'every unresolved refused batch');
      checkTimes(options);
      // A dry run too reads the quarantine topic's max.message.bytes (DESCRIBE_CONFIGS).
      const command: QuarantineCommand = { name: 'membrane quarantine unpack', access: 'unpack' };
      const left = await withQuarantine(command, async (session) => {
        const { config } = session;
        const { selected } = await select(session, options, 'unresolved', refs);
        // For the stored batches only: the quarantine was read with the CLI's own limits.
        limitDecoding({
          maxRecordsPerBatch: options.maxBatchRecords ?? config.MEMBRANE_MAX_BATCH_RECORDS,
          maxBatchBytes: options.maxBatchBytes ?? config.MEMBRANE_MAX_BATCH_BYTES,
          maxHeaders: options.maxHeaders ?? config.MEMBRANE_MAX_HEADERS,
        });
        // Refs name records: one that is not a refused batch is reported. Filters select
        // among all records: the others are simply not unpacked.
        const records = refs.length > 0 ? selected : selected.filter(isRefusedBatch);
        if (!options.dryRun && records.some(isRefusedBatch))
          await ensureResolutionsTopic(session.admin, config.MEMBRANE_QUARANTINE_TOPIC);
        const out = process.stdout;
        const outcomes = await unpack({
          kafka: session.kafka,
          quarantineTopic: config.MEMBRANE_QUARANTINE_TOPIC,
          records,
          dryRun: options.dryRun === true,
          onProgress: (_, outcome) => {
            out.write(
              options.json
                ? `${safeJson(outcome)}\n`
                : `${describe(outcome, options.dryRun === true)}\n`,
            );
          },
        });
        const count = (kind: UnpackOutcome['kind']): number =>
          outcomes.filter((o) => o.kind === kind).length;
        const unpacked = outcomes.flatMap((o) => (o.kind === 'unpacked' ? [o.records] : []));
        const total = unpacked.reduce((a, b) => a + b, 0);
        const meanwhile = count('resolved-meanwhile');
        if (!options.json) {
          const { maxRecordsPerBatch, maxBatchBytes } = decodingLimits();
          out.write(
            `${unpacked.length} refused batch(es) ${options.dryRun ? 'would be unpacked' : 'unpacked'} into ${total} quarantine record(s) (trust.batch-unpacked), ${count('undecodable')} undecodable${count('undecodable') > 0 ? ` within ${maxRecordsPerBatch} records and ${maxBatchBytes} bytes` : ''}, ${count('skipped')} skipped${meanwhile > 0 ? `, ${meanwhile} resolved meanwhile by another run` : ''}${options.dryRun ? ' — nothing written (dry run)' : ''}\n`,
          );
          if (!options.dryRun && total > 0)
            out.write('Replay them with: membrane quarantine replay --code trust.batch-unpacked\n');
        }
        return count('undecodable') + count('skipped');
      });
      // 0: all unpacked; 2: some could not be (undecodable, skipped); 1: a known error.
      process.exitCode = left > 0 ? 2 : 0;
    });
}
