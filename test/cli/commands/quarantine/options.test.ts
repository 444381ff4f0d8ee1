import type { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listCommand } from '../../../../src/cli/commands/quarantine/list.js';
import {
  checkTimes,
  oneOf,
  parseCodeGlob,
  parseRef,
  requireSelection,
  timeOption,
  wholeNumber,
} from '../../../../src/cli/commands/quarantine/options.js';
import { replayCommand } from '../../../../src/cli/commands/quarantine/replay.js';
import { resolveCommand } from '../../../../src/cli/commands/quarantine/resolve.js';
import { showCommand } from '../../../../src/cli/commands/quarantine/show.js';
import { statsCommand } from '../../../../src/cli/commands/quarantine/stats.js';
import { unresolveCommand } from '../../../../src/cli/commands/quarantine/unresolve.js';
import { statusCommand } from '../../../../src/cli/commands/status.js';
import { isMembraneError, MembraneError } from '../../../../src/core/errors.js';

/**
 * Every option of every quarantine command is checked when the command line is parsed: a
 * value that can select nothing is refused with one sentence naming what is valid, before
 * anything connects. The environment has no KAFKA_BROKERS here: a command that got as far as
 * loading its configuration would fail with config.invalid instead.
 */

const saved = { ...process.env };
beforeEach(() => {
  process.env = { PATH: saved['PATH'] };
});
afterEach(() => {
  process.env = { ...saved };
});

/** The error a command line throws, parsed by a fresh command. */
async function refusal(command: () => Command, args: readonly string[]): Promise<MembraneError> {
  const error: unknown = await command()
    .exitOverride()
    .parseAsync(['node', 'membrane', ...args])
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  if (!isMembraneError(error)) throw new Error(`expected a MembraneError, got ${String(error)}`);
  return error;
}

const STAGES_SENTENCE = 'decode, trust, upcast, map, validate, route, stamp or encode';

/** Each selecting option, a value it refuses, and the sentence. */
const INVALID: readonly (readonly [args: string[], sentence: string])[] = [
  [['--stage', 'foo'], `--stage must be one of ${STAGES_SENTENCE}, not "foo".`],
  [
    ['--code', 'map.cast-faild'],
    '--code "map.cast-faild" matches none of membrane\'s issue codes, which for stage map are map.missing-field, map.invalid-type, map.cast-failed, map.unknown-code, map.invalid-date or map.expression-failed (did you mean map.cast-failed?).',
  ],
  [
    ['--code', 'nothing.*'],
    '--code "nothing.*" matches none of membrane\'s issue codes, which are decode.*, trust.*, upcast.*, map.*, validate.*, route.*, stamp.* or encode.*.',
  ],
  [
    ['--mapping', 'Legacy_Orders'],
    '--mapping must be a mapping name or name@version (lower-case letters, digits and dashes, like legacy-orders or legacy-orders@3), not "Legacy_Orders".',
  ],
  [['--mapping', 'legacy-orders@0'], expect.stringContaining('not "legacy-orders@0".') as string],
  [
    ['--topic', 'erp orders'],
    '--topic must be a Kafka topic name (1 to 249 letters, digits, dots, underscores and dashes), not "erp orders".',
  ],
  [['--partition', '-1'], '--partition must be a whole number of 0 or more, not "-1".'],
  [['--partition', '1e3'], '--partition must be a whole number of 0 or more, not "1e3".'],
  [['--limit', '0'], '--limit must be a whole number of 1 or more, not "0".'],
  [['--limit', 'ten'], '--limit must be a whole number of 1 or more, not "ten".'],
  [
    ['--since', 'yesterday'],
    '--since must be a duration ago (90s, 30m, 2h, 7d, 1w) or an ISO 8601 time (2026-11-22 or 2026-11-22T10:00:00Z, UTC unless an offset is given), not "yesterday".',
  ],
  [
    ['--until', '2026-02-30'],
    expect.stringMatching(/^--until must be a duration ago .*, not "2026-02-30"\.$/) as string,
  ],
  [['--since', '5'], expect.stringContaining('not "5".') as string],
  [['--stage', '\x1b[2J'], `--stage must be one of ${STAGES_SENTENCE}, not "\\x1b[2J".`],
];

const COMMANDS: readonly (readonly [name: string, make: () => Command, extra: string[]])[] = [
  ['list', listCommand, []],
  ['stats', statsCommand, []],
  ['replay', replayCommand, []],
  ['resolve', resolveCommand, ['--reason', 'r']],
  ['unresolve', unresolveCommand, []],
];

describe('every selecting option of every quarantine command', () => {
  for (const [name, make, extra] of COMMANDS) {
    it(`${name}: refuses what selects nothing, in one sentence naming the valid values`, async () => {
      for (const [args, sentence] of INVALID) {
        const error = await refusal(make, [...extra, ...args]);
        expect(error.code, args.join(' ')).toBe('cli.invalid-option');
        expect(error.message, args.join(' ')).toEqual(sentence);
        // The README promises a "What to do" line with every refusal.
        expect(error.hint, args.join(' ')).toMatch(/^(give|take|swap) /);
      }
      const backwards = await refusal(make, [...extra, '--since', '1h', '--until', '2h']);
      expect(backwards.hint).toBe('swap them: --since is the earlier time');
      expect(backwards.message).toMatch(
        /^--since \(.*\) is after --until \(.*\), so nothing can match\.$/,
      );
    });
  }

  it('lists the stages in the help too', () => {
    expect(listCommand().helpInformation().replace(/\s+/g, ' ')).toContain(
      '--stage <stage> the stage that refused the record (choices: "decode", "trust", "upcast", "map", "validate", "route", "stamp", "encode")',
    );
  });
});

describe('the options only some commands have', () => {
  it('replay: --rate a positive number, --chunk a whole number of 1 or more', async () => {
    for (const [args, sentence] of [
      [
        ['--rate', '0'],
        '--rate must be a positive number of records per second (like 100 or 0.5), not "0".',
      ],
      [
        ['--rate', '-5'],
        '--rate must be a positive number of records per second (like 100 or 0.5), not "-5".',
      ],
      [
        ['--rate', 'fast'],
        '--rate must be a positive number of records per second (like 100 or 0.5), not "fast".',
      ],
      [['--chunk', '0'], '--chunk must be a whole number of 1 or more, not "0".'],
      [['--chunk', '2.5'], '--chunk must be a whole number of 1 or more, not "2.5".'],
    ] as const) {
      const error = await refusal(replayCommand, ['--all', ...args]);
      expect(error.message).toBe(sentence);
      expect(error.hint).toMatch(/^give --(rate|chunk) like \d+$/);
    }
  });

  it('resolve: --reason must say something', async () => {
    expect((await refusal(resolveCommand, ['--all', '--reason', '  '])).message).toBe(
      '--reason must say why, for the next operator; it cannot be empty.',
    );
  });

  it('show, resolve, replay, unresolve: a ref is partition:offset', async () => {
    const sentence =
      '"2-14" is not a quarantine ref: give partition:offset as the REF column of `membrane quarantine list` shows it, like 2:14.';
    expect((await refusal(showCommand, ['2-14'])).message).toBe(sentence);
    expect((await refusal(resolveCommand, ['1:2', '2-14', '--reason', 'r'])).message).toBe(
      sentence,
    );
    expect((await refusal(replayCommand, ['2-14'])).message).toBe(sentence);
    expect((await refusal(unresolveCommand, ['2-14'])).message).toBe(sentence);
  });

  it('status takes --json and nothing else', async () => {
    const error: unknown = await statusCommand()
      .exitOverride()
      .configureOutput({ writeErr: () => undefined })
      .parseAsync(['node', 'status', '--stage', 'map'])
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'commander.unknownOption' });
  });
});

describe('resolve, replay and unresolve with nothing that selects', () => {
  const filters = '--code, --stage, --mapping, --topic, --partition, --key, --since or --until';
  it('refuse in one sentence naming the filters and --all, before connecting', async () => {
    expect((await refusal(resolveCommand, ['--reason', 'oops'])).message).toBe(
      `Nothing says which records to resolve: give a filter (${filters}), quarantine refs (partition:offset), or --all to resolve every unresolved record.`,
    );
    expect((await refusal(replayCommand, ['--dry-run', '--limit', '5', '--json'])).message).toBe(
      `Nothing says which records to replay: give a filter (${filters}), quarantine refs (partition:offset), or --all to replay every unresolved record.`,
    );
    const unresolve = await refusal(unresolveCommand, ['--force']);
    expect(unresolve.code).toBe('cli.no-selection');
    expect(unresolve.message).toBe(
      `Nothing says which records to unresolve: give a filter (${filters}), quarantine refs (partition:offset), or --all to unresolve every resolved record.`,
    );
    expect(unresolve.hint).toBe(
      'see first what a filter selects with `membrane quarantine list --resolved` and that filter',
    );
  });

  it('go on with any filter, a ref, or --all (to the configuration, absent here)', async () => {
    for (const args of [
      ['--all'],
      ['--key', 'o-1'],
      ['--partition', '0'],
      ['3:14'],
      ['--since', '1h'],
    ]) {
      expect((await refusal(replayCommand, args)).code, args.join(' ')).toBe('config.invalid');
    }
    expect(() => {
      requireSelection({ limit: 3, json: true }, [], 'resolve', 'x');
    }).toThrow(/^Nothing says/);
    expect(() => {
      requireSelection({ all: true }, [], 'resolve', 'x');
    }).not.toThrow();
  });
});

describe('the parsers', () => {
  it('times: a duration ago, or strict ISO 8601 (UTC unless an offset is given)', () => {
    const now = new Date('2026-11-22T12:00:00.000Z');
    const parse = timeOption('--since', () => now);
    expect(parse('90s').toISOString()).toBe('2026-11-22T11:58:30.000Z');
    expect(parse('2h').toISOString()).toBe('2026-11-22T10:00:00.000Z');
    expect(parse('1w').toISOString()).toBe('2026-11-15T12:00:00.000Z');
    expect(parse('2026-11-22').toISOString()).toBe('2026-11-22T00:00:00.000Z');
    expect(parse('2026-11-22T10:00').toISOString()).toBe('2026-11-22T10:00:00.000Z');
    expect(parse('2026-11-22T10:00:00+02:00').toISOString()).toBe('2026-11-22T08:00:00.000Z');
    for (const text of ['', '2h ago', '-2h', '2026-13-01', '22.11.2026', 'Nov 22 2026'])
      expect(() => parse(text), text).toThrow(MembraneError);
  });

  it('whole numbers: decimal digits only', () => {
    const parse = wholeNumber('--partition', 0);
    expect(parse('0')).toBe(0);
    expect(parse('12')).toBe(12);
    for (const text of ['', '0x10', '1.0', ' ', '99999999999999999999'])
      expect(() => parse(text), text).toThrow(MembraneError);
  });

  it('code globs: any that matches a code', () => {
    for (const glob of ['*', 'trust.*', 'map.cast-failed', '*.invalid-*', 'decode.invalid-???n'])
      expect(parseCodeGlob(glob)).toBe(glob);
  });

  it('refs', () => {
    expect(parseRef('0:0')).toBe('0:0');
    expect(parseRef('12:345678')).toBe('12:345678');
    for (const text of ['1:', ':1', '1:2:3', 'a:1', '1 :2']) expect(() => parseRef(text)).toThrow();
  });

  it('since before until passes', () => {
    expect(() => {
      checkTimes({ since: new Date('2026-01-01'), until: new Date('2026-01-02') });
    }).not.toThrow();
  });

  it('lists in words', () => {
    expect(oneOf(['a'])).toBe('a');
    expect(oneOf(['a', 'b', 'c'])).toBe('a, b or c');
  });
});
