import { Command } from 'commander';
import type { Kafka } from 'kafkajs';
import { sendSlices } from '../../../adapters/kafka/send-slices.js';
import {
  resolutionKey,
  resolutionsTopic,
  type QuarantinedRecord,
} from '../../../app/quarantine/store.js';
import { safeJson } from '../../text.js';
import { select, summaryOf, withQuarantine, type QuarantineCommand } from './common.js';
import { listTable } from './list.js';
import {
  checkTimes,
  requireSelection,
  withFilters,
  withRefs,
  type FilterOptions,
} from './options.js';

/** Headers of an unresolve marker: when, and the resolution it took back (JSON). */
export const UNRESOLVE_HEADERS = {
  at: 'membrane.unresolved-at',
  was: 'membrane.unresolved.was',
} as const;

/**
 * Whether `unresolve` takes a record back only with --force: a replay resolved it, so its
 * outputs are written (or the mapping dropped it, or a newer quarantine record supersedes
 * it), or an unpack did, so its records are in the quarantine on their own. Unresolved, a
 * second replay would write it again, a second unpack its records.
 */
export function resolvedByReplay(record: QuarantinedRecord): boolean {
  return record.resolution?.by === 'replay' || record.resolution?.by === 'unpack';
}

/**
 * Takes resolutions back: for each record, a tombstone (no value) under its key in the
 * compacted resolutions topic. Every reader keeps the newest marker of a key in offset order
 * (one partition), and a tombstone removes the key, so the record reads as unresolved again
 * — to this CLI, to `membrane status`, and to any older membrane (it read tombstones so
 * before). Compaction keeps the newest marker of a key; the tombstone itself goes after the
 * topic's `delete.retention.ms`, which leaves the same state: no marker. The tombstone's
 * headers say when, and which resolution it took back, for whoever reads the topic meanwhile.
 * Not transactional, like `resolve`.
 */
export async function unresolveRecords(
  kafka: Kafka,
  quarantineTopic: string,
  records: readonly QuarantinedRecord[],
  now: Date,
): Promise<number> {
  if (records.length === 0) return 0;
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    const at = now.toISOString();
    const messages = records.map((record) => ({
      key: resolutionKey(quarantineTopic, record.ref),
      value: null,
      headers: {
        [UNRESOLVE_HEADERS.at]: at,
        [UNRESOLVE_HEADERS.was]: JSON.stringify(record.resolution ?? null),
      },
    }));
    for (const slice of sendSlices([{ topic: resolutionsTopic(quarantineTopic), messages }]))
      await producer.sendBatch({ topicMessages: slice, acks: -1 });
  } finally {
    await producer.disconnect();
  }
  return records.length;
}

export interface UnresolveOptions extends FilterOptions {
  all?: boolean;
  dryRun?: boolean;
  force?: boolean;
}

/** What `unresolve` does with what it selected: take back, or leave for --force. */
export function splitForUnresolve(
  selected: readonly QuarantinedRecord[],
  force: boolean,
): { take: QuarantinedRecord[]; left: QuarantinedRecord[] } {
  const take: QuarantinedRecord[] = [];
  const left: QuarantinedRecord[] = [];
  for (const record of selected) (force || !resolvedByReplay(record) ? take : left).push(record);
  return { take, left };
}

/** The sentences about records a replay or an unpack resolved that were left resolved. */
export function leftSentence(left: readonly QuarantinedRecord[]): string {
  const unpacked = left.filter((r) => r.resolution?.by === 'unpack').length;
  const replayed = left.length - unpacked;
  return (
    (replayed === 0
      ? ''
      : `${replayed} record(s) resolved by a replay left resolved: their outputs are written (or the mapping dropped them, or a newer quarantine record supersedes them), and a second replay would write them again; --force takes them back too.\n`) +
    (unpacked === 0
      ? ''
      : `${unpacked} refused batch(es) unpacked left resolved: their records are in the quarantine on their own, and a second unpack would add them again; --force takes them back too.\n`)
  );
}

export function unresolveCommand(): Command {
  return withRefs(
    withFilters(
      new Command('unresolve').description(
        'take resolutions back (a `resolve` by mistake): the records are unresolved again, for `replay` or another `resolve`',
      ),
    ),
    'unresolve',
  )
    .option('--all', 'every resolved record: needed when no filter or ref says which')
    .option('--dry-run', 'show the records it would unresolve, as `list` does; write nothing')
    .option(
      '--force',
      'take back resolutions written by a replay or an unpack too (a second replay then writes their outputs again, a second unpack their records)',
    )
    .action(async (refs: string[], options: UnresolveOptions) => {
      requireSelection(options, refs, 'unresolve', 'every resolved record');
      checkTimes(options);
      const command: QuarantineCommand = {
        name: 'membrane quarantine unresolve',
        access: options.dryRun ? 'read' : 'resolve',
      };
      await withQuarantine(command, async (session) => {
        const topic = session.config.MEMBRANE_QUARANTINE_TOPIC;
        const { selected } = await select(session, options, 'resolved', refs);
        const { take, left } = splitForUnresolve(selected, options.force === true);
        const out = process.stdout;
        if (options.dryRun) {
          if (options.json) {
            for (const record of take) out.write(`${safeJson(summaryOf(record))}\n`);
            return;
          }
          out.write(listTable(take));
          out.write(
            `${take.length} record(s) would be unresolved — nothing written (dry run)\n${leftSentence(left)}`,
          );
          return;
        }
        const n = await unresolveRecords(session.kafka, topic, take, new Date());
        out.write(
          options.json
            ? `${safeJson({ unresolved: n, refs: take.map((r) => r.ref), left: left.map((r) => r.ref) })}\n`
            : `Unresolved ${n} record(s).\n${leftSentence(left)}`,
        );
      });
    });
}
