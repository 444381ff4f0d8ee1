import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { replay, type ReplayOutcome } from '../../../app/quarantine/replay.js';
import { ensureResolutionsTopic } from '../../../app/quarantine/store.js';
import { loadPipelines } from '../../../app/runtime/bootstrap.js';
import { escapeBytes, escapeText, safeJson } from '../../text.js';
import { select, withQuarantine } from './common.js';
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
      const failing = await withQuarantine(async (session) => {
        // Unresolved records only, whatever else the options say: a resolved record's outputs are
        // written already (or it was junk), and a superseded one has a newer quarantine record.
        const { selected: records } = await select(session, options, 'unresolved', refs);
        const pipelines = new Map(
          (await loadPipelines(session.config, process.env)).map((p) => [p.name, p]),
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
