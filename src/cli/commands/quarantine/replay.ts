import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { replay, type ReplayOutcome } from '../../../app/quarantine/replay.js';
import { settledMembers } from '../../../adapters/kafka/members.js';
import { ensureResolutionsTopic } from '../../../app/quarantine/store.js';
import { versionMismatches } from '../../../app/versions.js';
import { MembraneError } from '../../../core/errors.js';
import { loadPipelines } from '../../../app/runtime/bootstrap.js';
import { escapeBytes, escapeText, safeJson } from '../../text.js';
import { select, withQuarantine, type QuarantineCommand } from './common.js';
import {
  checkTimes,
  parseRate,
  requireSelection,
  wholeNumber,
  withFilters,
  withRefs,
  type FilterOptions,
} from './options.js';

/** One record's dry-run line: what it would now produce, or why it still fails. */
function describe(outcome: ReplayOutcome): string {
  if (outcome.kind === 'replayed') {
    return outcome.outputs
      .map(
        (o) =>
          `  ${outcome.ref}  would pass → ${escapeText(o.topic)} key ${o.key ? escapeBytes(o.key) : '(none)'} id ${o.id}\n      ${safeJson(o.payload)}`,
      )
      .join('\n');
  }
  if (outcome.kind === 'failing') {
    return `  ${outcome.ref}  still fails: ${outcome.issues.map((i) => escapeText(`${i.code}${i.path ? ` at ${i.path}` : ''} (${i.message})`)).join('; ')}`;
  }
  if (outcome.kind === 'resolved-meanwhile') {
    return `  ${outcome.ref}  resolved meanwhile (${escapeText(`${outcome.resolution.status} by ${outcome.resolution.by} at ${outcome.resolution.at}`)})`;
  }
  return `  ${outcome.ref}  ${outcome.kind}: ${escapeText(outcome.reason)}`;
}

export interface ReplayCommandOptions extends FilterOptions {
  all?: boolean;
  dryRun?: boolean;
  rate?: number;
  chunk: number;
  force?: boolean;
}

export function replayCommand(): Command {
  return withRefs(
    withFilters(
      new Command('replay').description(
        'run unresolved records through the current mappings: emit what now passes, re-quarantine what still fails',
      ),
    ),
    'replay',
  )
    .option(
      '--all',
      'every unresolved record: needed when no filter or ref says which (resolved records are never replayed)',
    )
    .option(
      '--dry-run',
      'show what would pass (and how it translates) or still fail; write nothing',
    )
    .option('--force', 'replay even though the live group runs other versions of the mappings used')
    .addOption(new Option('--rate <n>', 'at most n records per second').argParser(parseRate))
    .addOption(
      new Option('--chunk <n>', 'records per transaction')
        .default(100)
        .argParser(wholeNumber('--chunk', 1)),
    )
    .action(async (refs: string[], options: ReplayCommandOptions) => {
      // Before connecting: a replay of the whole quarantine is asked for with --all.
      requireSelection(options, refs, 'replay', 'every unresolved record');
      checkTimes(options);
      const { rate, chunk } = options;
      // The output topics an ACL refusal names, once the mappings are loaded.
      let outputs: readonly string[] = [];
      const command: QuarantineCommand = {
        name: 'membrane quarantine replay',
        access: 'replay',
        outputs: () => outputs,
      };
      const failing = await withQuarantine(command, async (session) => {
        // Unresolved records only, whatever else the options say: a resolved record's outputs are
        // written already (or it was junk), and a superseded one has a newer quarantine record.
        const { selected: records } = await select(session, options, 'unresolved', refs);
        const loaded = await loadPipelines(session.config, process.env);
        const pipelines = new Map(loaded.map((p) => [p.name, p]));
        outputs = [...new Set(loaded.flatMap((p) => p.outputTopics()))].sort();
        // One mapping version at a time: the members running now translate new records with
        // their version; a replay with another one would translate the same kind of record
        // differently (or fix what they keep quarantining).
        const used = new Set(records.map((r) => r.entry.mapping.split('@')[0] ?? ''));
        const group = session.config.MEMBRANE_GROUP_ID;
        const live = await settledMembers(session.admin, group);
        const mismatches = live.settled
          ? versionMismatches(live.members, loaded, used)
          : [
              `The group ${group} has been rebalancing (${live.state}) for 30 s, so the mapping versions its members run cannot be read (Kafka describes them only once it is stable).`,
            ];
        if (mismatches.length > 0 && !options.force && !options.dryRun)
          throw new MembraneError('quarantine.version-mismatch', mismatches.join(' '), {
            hint: live.settled
              ? `run the replay with the mappings the group runs, or roll the new mappings out to every member of ${group} first (membrane status shows what each member runs); --force replays anyway`
              : 'try again once the group is stable (membrane status shows its state); --force replays anyway',
          });
        for (const mismatch of mismatches)
          process.stderr.write(
            `membrane: ${mismatch}${options.dryRun ? ' (a replay without --dry-run refuses unless --force)' : ' (--force: replaying anyway)'}\n`,
          );
        if (!options.dryRun)
          await ensureResolutionsTopic(session.admin, session.config.MEMBRANE_QUARANTINE_TOPIC);
        const out = process.stdout;
        const bar =
          out.isTTY && !options.json && !options.dryRun
            ? new cliProgress.SingleBar(
                { format: 'replay [{bar}] {value}/{total} eta {eta_formatted}' },
                cliProgress.Presets.shades_classic,
              )
            : undefined;
        bar?.start(records.length, 0);
        // Another replay of this quarantine taking over makes this throw `ReplayTakenOver`:
        // a MembraneError, so the user reads its one sentence and the exit code is 1.
        const outcomes = await replay({
          kafka: session.kafka,
          quarantineTopic: session.config.MEMBRANE_QUARANTINE_TOPIC,
          pipelines,
          records,
          dryRun: options.dryRun === true,
          rate,
          chunk,
          onProgress: (done, outcome) => {
            bar?.update(done);
            if (options.json) {
              out.write(
                `${safeJson({ ...outcome, ...(outcome.kind === 'replayed' ? { outputs: outcome.outputs.map((o) => ({ topic: o.topic, id: o.id, payload: o.payload })) } : {}) })}\n`,
              );
            } else if (options.dryRun || outcome.kind === 'skipped') {
              // A skipped record says why, dry run or not: it is left for the operator.
              out.write(`${describe(outcome)}\n`);
            }
          },
        }).finally(() => bar?.stop());
        const count = (kind: ReplayOutcome['kind']): number =>
          outcomes.filter((o) => o.kind === kind).length;
        const codes = new Map<string, number>();
        for (const o of outcomes)
          if (o.kind === 'failing')
            codes.set(o.issues[0]?.code ?? '?', (codes.get(o.issues[0]?.code ?? '?') ?? 0) + 1);
        const meanwhile = count('resolved-meanwhile');
        if (!options.json) {
          const verb = options.dryRun ? 'would be replayed' : 'replayed';
          out.write(
            `${count('replayed')} ${verb}, ${count('dropped')} dropped by the mapping, ${count('failing')} still failing${codes.size > 0 ? ` (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')})` : ''}, ${count('skipped')} skipped${meanwhile > 0 ? `, ${meanwhile} resolved meanwhile by another run` : ''}${options.dryRun ? ' — nothing written (dry run)' : ''}\n`,
          );
        }
        return count('failing') + count('skipped');
      });
      // 0: all done; 2: some still fail or have no mapping; 1 (from the error handler): a
      // known error, such as another replay of this quarantine taking over; 70: a bug.
      process.exitCode = failing > 0 ? 2 : 0;
    });
}
