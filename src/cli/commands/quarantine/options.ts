import { Argument, type Command, Option } from 'commander';
import { closest, distance } from 'fastest-levenshtein';
import { DateTime } from 'luxon';
import { globToRegExp } from '../../../app/quarantine/filters.js';
import { ISSUE_CODES, STAGES, type Stage } from '../../../core/issues.js';
import { MembraneError } from '../../../core/errors.js';
import { escapeText } from '../../text.js';

/**
 * What the quarantine commands accept, checked when the command line is parsed: a value that
 * cannot select anything (`--stage foo`, `--partition -1`, `--since yesterday`) is refused
 * with one sentence naming the valid values, before anything connects — never a silent empty
 * answer. Every check throws a MembraneError (`cli.invalid-option`, exit 1), which the CLI
 * prints as `membrane: <sentence>` like every other known error.
 */

function refuse(sentence: string, hint: string): never {
  throw new MembraneError('cli.invalid-option', sentence, { hint });
}

/** The user's text, quoted and escaped: whatever they typed prints as visible characters. */
const quoted = (text: string): string => `"${escapeText(text)}"`;

/** `a, b, c or d`. */
export function oneOf(values: readonly string[]): string {
  return values.length <= 1
    ? (values[0] ?? '')
    : `${values.slice(0, -1).join(', ')} or ${values[values.length - 1] ?? ''}`;
}

export function parseStage(text: string): Stage {
  if ((STAGES as readonly string[]).includes(text)) return text as Stage;
  return refuse(
    `--stage must be one of ${oneOf(STAGES)}, not ${quoted(text)}.`,
    'give one of them, like --stage map',
  );
}

/**
 * A glob over issue codes must match one of them: the list is closed (src/core/issues.ts),
 * so a glob that matches none is a typo. The sentence lists the codes of the stage the glob
 * names (or the stages), and the closest code when one is near.
 */
export function parseCodeGlob(text: string): string {
  const glob = globToRegExp(text);
  if (ISSUE_CODES.some((code) => glob.test(code))) return text;
  const stage = STAGES.find((s) => text.startsWith(`${s}.`));
  const near = closest(text, [...ISSUE_CODES]);
  const suggestion = distance(text, near) <= 3 ? ` (did you mean ${near}?)` : '';
  const known =
    stage === undefined
      ? `which are ${oneOf(STAGES.map((s) => `${s}.*`))}`
      : `which for stage ${stage} are ${oneOf(ISSUE_CODES.filter((c) => c.startsWith(`${stage}.`)))}`;
  return refuse(
    `--code ${quoted(text)} matches none of membrane's issue codes, ${known}${suggestion}.`,
    suggestion === '' ? "give a glob over those codes, like --code 'map.*'" : `give --code ${near}`,
  );
}

const MAPPING = /^[a-z][a-z0-9-]*(?:@[1-9][0-9]*)?$/;

export function parseMapping(text: string): string {
  if (MAPPING.test(text)) return text;
  return refuse(
    `--mapping must be a mapping name or name@version (lower-case letters, digits and dashes, like legacy-orders or legacy-orders@3), not ${quoted(text)}.`,
    'give the name (and version) the MAPPING column of `membrane quarantine list` shows',
  );
}

/** Kafka's own rule for topic names. */
const TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

export function parseTopic(text: string): string {
  if (TOPIC.test(text)) return text;
  return refuse(
    `--topic must be a Kafka topic name (1 to 249 letters, digits, dots, underscores and dashes), not ${quoted(text)}.`,
    'give the upstream topic as the SOURCE column of `membrane quarantine list` shows it (topic/partition/offset)',
  );
}

/** A whole number of at least `min`, written in decimal digits only. */
export function wholeNumber(option: string, min: number): (text: string) => number {
  return (text) => {
    const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (Number.isSafeInteger(n) && n >= min) return n;
    return refuse(
      `${option} must be a whole number of ${min} or more, not ${quoted(text)}.`,
      `give ${option} like ${min === 0 ? 0 : 10}`,
    );
  };
}

export function parseRate(text: string): number {
  const n = /^\d+(?:\.\d+)?$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (Number.isFinite(n) && n > 0) return n;
  return refuse(
    `--rate must be a positive number of records per second (like 100 or 0.5), not ${quoted(text)}.`,
    'give --rate like 100',
  );
}

const UNITS: Readonly<Record<string, number>> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * `--since`/`--until`: a duration ago (`90s`, `30m`, `2h`, `7d`, `1w`) or an ISO 8601 time,
 * UTC unless it carries an offset. ISO 8601 strictly (Luxon's parser): `2026-02-30`, `5` or
 * `yesterday` are refused, where `new Date` would guess.
 */
export function timeOption(
  option: string,
  now: () => Date = () => new Date(),
): (text: string) => Date {
  return (text) => {
    const relative = /^(\d{1,9})([smhdw])$/.exec(text.trim());
    if (relative) {
      return new Date(now().getTime() - Number(relative[1]) * (UNITS[relative[2] ?? 's'] ?? 0));
    }
    const absolute = DateTime.fromISO(text.trim(), { zone: 'utc' });
    if (absolute.isValid) return absolute.toJSDate();
    return refuse(
      `${option} must be a duration ago (90s, 30m, 2h, 7d, 1w) or an ISO 8601 time (2026-11-22 or 2026-11-22T10:00:00Z, UTC unless an offset is given), not ${quoted(text)}.`,
      `give ${option} like 2h or 2026-11-22T10:00:00Z`,
    );
  };
}

export function parseReason(text: string): string {
  if (text.trim() !== '') return text;
  return refuse(
    '--reason must say why, for the next operator; it cannot be empty.',
    "give --reason like 'shop test traffic, not ours'",
  );
}

const REF = /^\d{1,10}:\d{1,19}$/;

/** A quarantine record's coordinates, `partition:offset`, as `list` shows them in REF. */
export function parseRef(text: string): string {
  if (REF.test(text)) return text;
  return refuse(
    `${quoted(text)} is not a quarantine ref: give partition:offset as the REF column of \`membrane quarantine list\` shows it, like 2:14.`,
    'take the REF column of `membrane quarantine list --all`',
  );
}

/** The selecting filters: without one of them (or refs, or --all) resolve/replay/unresolve refuse. */
export const SELECTING = [
  '--code',
  '--stage',
  '--mapping',
  '--topic',
  '--partition',
  '--key',
  '--since',
  '--until',
] as const;

/** The options `withFilters` adds, as commander gives them (already checked). */
export interface FilterOptions {
  code?: string;
  stage?: Stage;
  mapping?: string;
  topic?: string;
  partition?: number;
  key?: string;
  since?: Date;
  until?: Date;
  limit?: number;
  json?: boolean;
}

/** The selecting filters every quarantine command but `show` shares, and --limit and --json. */
export function withFilters(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--code <glob>',
        'code of the first issue, a glob: trust.*, map.cast-failed',
      ).argParser(parseCodeGlob),
    )
    .addOption(
      new Option('--stage <stage>', 'the stage that refused the record')
        .choices(STAGES)
        // After .choices(): the help still lists them, the refusal is membrane's sentence.
        .argParser(parseStage),
    )
    .addOption(
      new Option('--mapping <name[@version]>', 'the mapping that refused the record').argParser(
        parseMapping,
      ),
    )
    .addOption(
      new Option('--topic <topic>', 'the upstream topic the record was read from').argParser(
        parseTopic,
      ),
    )
    .addOption(
      new Option(
        '--partition <n>',
        'the upstream partition (not one of the quarantine topic)',
      ).argParser(wholeNumber('--partition', 0)),
    )
    .option('--key <key>', 'the upstream record key (the aggregate, for keyed producers)')
    .addOption(
      new Option(
        '--since <time>',
        'quarantined at or after: 90s, 30m, 2h, 7d, 1w ago, or an ISO 8601 time (UTC unless an offset is given)',
      ).argParser(timeOption('--since')),
    )
    .addOption(
      new Option(
        '--until <time>',
        'quarantined at or before: a duration ago, or an ISO 8601 time',
      ).argParser(timeOption('--until')),
    )
    .addOption(
      new Option('--limit <n>', 'at most this many records, oldest first').argParser(
        wholeNumber('--limit', 1),
      ),
    )
    .option('--json', 'one JSON object per line instead of a table');
}

/** The record refs a command that writes may take instead of (or with) filters. */
export function withRefs(command: Command, verb: string): Command {
  return command.addArgument(
    new Argument(
      '[refs...]',
      `quarantine refs (partition:offset, as \`list\` shows them) to ${verb}; with filters, those that match both`,
    ).argParser((text: string, previous: string[] | undefined) => [
      ...(previous ?? []),
      parseRef(text),
    ]),
  );
}

/** Whether the options hold a selecting filter (not counting --limit, --json, --all). */
export function hasSelectingFilter(options: FilterOptions): boolean {
  return (
    options.code !== undefined ||
    options.stage !== undefined ||
    options.mapping !== undefined ||
    options.topic !== undefined ||
    options.partition !== undefined ||
    options.key !== undefined ||
    options.since !== undefined ||
    options.until !== undefined
  );
}

/**
 * resolve, replay and unresolve act on every record they select: with no filter and no ref
 * that is the whole quarantine, which they do only when `--all` says so.
 */
export function requireSelection(
  options: FilterOptions & { all?: boolean },
  refs: readonly string[],
  verb: string,
  every: string,
): void {
  if (options.all === true || refs.length > 0 || hasSelectingFilter(options)) return;
  throw new MembraneError(
    'cli.no-selection',
    `Nothing says which records to ${verb}: give a filter (${oneOf(SELECTING)}), quarantine refs (partition:offset), or --all to ${verb} ${every}.`,
    {
      hint: `see first what a filter selects with \`membrane quarantine list${verb === 'unresolve' ? ' --resolved' : ''}\` and that filter`,
    },
  );
}

/** --since after --until selects nothing, whatever the quarantine holds. */
export function checkTimes(options: FilterOptions): void {
  if (options.since && options.until && options.since.getTime() > options.until.getTime()) {
    refuse(
      `--since (${options.since.toISOString()}) is after --until (${options.until.toISOString()}), so nothing can match.`,
      'swap them: --since is the earlier time',
    );
  }
}
