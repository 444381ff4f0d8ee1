import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../../src/infra/paths.js';
import { explain, patternProblem } from '../../../src/mapping/check/regex.js';
import { BASE_MAPPING, problemsOf } from '../../support/mappings.js';
import { runCli } from '../../support/cli.js';

/** BASE_MAPPING with a `when` on its route (line 12, the expression from column 11). */
const withWhen = (when: string): string =>
  // A function, so a `$` in the expression is not a replacement pattern.
  BASE_MAPPING.replace('  - name: placed\n', () => `  - name: placed\n    when: ${when}\n`);

describe('validate: the pattern of matches() is the mapping’s, and one the linear engine runs', () => {
  it('refuses a pattern read from the record, with file:line:col, in the CLI', async () => {
    const root = projectRoot();
    const text = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`)
      .replace('when: delta_qty == 0', 'when: sku.matches(warehouse_id)');
    const dir = await mkdtemp(join(tmpdir(), 'membrane-regex-'));
    const file = join(dir, 'wms-stock.yaml');
    await writeFile(file, text);
    const result = await runCli(['validate', file], { ...process.env, NO_COLOR: '1' });
    expect(result.code).toBe(1);
    expect(result.stdout.split('\n')).toEqual([
      `FAIL  ${file}`,
      `  ${file}:25:23: events[0].when: the pattern of matches() must be a string literal, not warehouse_id: a pattern taken from the record lets its producer choose a regular expression that backtracks for minutes (write the regular expression in the mapping, e.g. matches('^[A-Z0-9-]+$'); to compare with a field, use ==, contains(), startsWith() or endsWith())`,
      '0 valid, 1 invalid',
      '',
    ]);
  });

  it('refuses any pattern that is not a literal, at the pattern', async () => {
    const notLiteral = (text: string): string =>
      `the pattern of matches() must be a string literal, not ${text}: a pattern taken from the record lets its producer choose a regular expression that backtracks for minutes (write the regular expression in the mapping, e.g. matches('^[A-Z0-9-]+$'); to compare with a field, use ==, contains(), startsWith() or endsWith())`;
    expect(await problemsOf(withWhen('order_id.matches(event_id)'))).toEqual([
      `12:28 events[0].when: ${notLiteral('event_id')}`,
    ]);
    expect(await problemsOf(withWhen("order_id.matches('^' + event_id)"))).toEqual([
      `12:28 events[0].when: ${notLiteral("'^' + event_id")}`,
    ]);
  });

  it('refuses lookarounds, backreferences and counts the linear engine cannot run, naming them', async () => {
    const cannot = (what: string): string =>
      `the pattern of matches() has ${what}, which V8's linear-time engine cannot run: upstream text could make it backtrack for minutes (write it without lookarounds and backreferences (test each part with its own matches(), contains() or startsWith()))`;
    expect(await problemsOf(withWhen("order_id.matches('^(a+)+(?=b)')"))).toEqual([
      `12:28 events[0].when: ${cannot('a lookahead')}`,
    ]);
    // A lookbehind V8's linear engine cannot run on any Node membrane supports (Node 24's V8
    // runs simple ones, like (?<!x)y, in linear time: V8 is asked, so those pass there).
    expect(await problemsOf(withWhen("order_id.matches('(?<!(a|b)+)c')"))).toEqual([
      `12:28 events[0].when: ${cannot('a lookbehind')}`,
    ]);
    expect(await problemsOf(withWhen("order_id.matches('^(a+)\\\\1$')"))).toEqual([
      `12:28 events[0].when: ${cannot('a backreference')}`,
    ]);
    expect(await problemsOf(withWhen("order_id.matches('^a{2,1000}$')"))).toEqual([
      "12:28 events[0].when: the pattern of matches() has a repetition too large to unroll, which V8's linear-time engine cannot run: upstream text could make it backtrack for minutes (use smaller counts ({1,20} rather than {1,1000}), or + and *)",
    ]);
  });

  it('refuses a pattern that is no regular expression, which would fail every record', async () => {
    expect(await problemsOf(withWhen("order_id.matches('(a')"))).toEqual([
      '12:28 events[0].when: the pattern of matches() is not a regular expression: Unterminated group (it is a JavaScript regular expression, without the slashes; escape \\ as \\\\ inside a quoted string)',
    ]);
  });

  it('accepts literals the linear engine runs, nested quantifiers included', async () => {
    for (const pattern of [
      '^(a+)+b',
      '^[A-Z]{3}-\\\\d+$',
      '(?:ab|cd)*?x',
      '[(?=]',
      '\\\\(?=x\\\\)',
    ])
      expect(await problemsOf(withWhen(`order_id.matches('${pattern}')`)), pattern).toEqual([]);
  });
});

describe('patternProblem and explain', () => {
  it('ask V8 for what the linear engine cannot run, and name what it is', () => {
    expect(patternProblem('^(a+)+b')).toBeUndefined();
    expect(patternProblem('^(a+)+(?=b)')?.message).toContain('has a lookahead');
    expect(patternProblem('(?<n>a)\\k<n>')?.message).toContain('has a backreference');
    expect(patternProblem('(a{1,100}){1,100}')?.message).toContain(
      'has a repetition too large to unroll',
    );
  });

  it('read lookarounds and backreferences outside classes and escapes only', () => {
    expect(explain('a(?=b)')).toBe('a lookahead');
    expect(explain('a(?!b)')).toBe('a lookahead');
    expect(explain('(?<=a)b')).toBe('a lookbehind');
    expect(explain('(?<!a)b')).toBe('a lookbehind');
    expect(explain('(a)\\1')).toBe('a backreference');
    expect(explain('(?<n>a)\\k<n>')).toBe('a backreference');
    expect(explain('(?<n>a)b')).toBeUndefined();
    expect(explain('[(?=]\\(?=')).toBeUndefined();
    expect(explain('[\\]\\1]')).toBeUndefined();
    expect(explain('\\\\k')).toBeUndefined();
  });
});
