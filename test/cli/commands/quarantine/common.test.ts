import { describe, expect, it } from 'vitest';
import type { QuarantinedRecord } from '../../../../src/app/quarantine/store.js';
import { summaryOf, table, type Cell } from '../../../../src/cli/commands/quarantine/common.js';
import { countBy, quarantineStats } from '../../../../src/cli/commands/quarantine/stats.js';
import { KEY_COLUMNS } from '../../../../src/cli/commands/quarantine/list.js';
import { CELL_COLUMNS } from '../../../../src/cli/text.js';

const ATTACK = '\x1b[2J\x1b[31mPWNED\x1b[0m\x07';

function quarantined(key: Buffer | null, message = 'unknown status "Q"'): QuarantinedRecord {
  return {
    ref: '0:1',
    partition: 0,
    offset: '1',
    entry: {
      source: { topic: 'legacy.orders', partition: 3, offset: '42', timestamp: '0' },
      mapping: 'legacy-orders@3',
      stage: 'map',
      issues: [{ code: 'map.unknown-code', path: 'status', message }],
      id: undefined,
      quarantinedAt: '2026-01-01T00:00:00.000Z',
      attempt: 1,
    },
    upstream: { key, value: null, headers: {} },
    resolution: undefined,
  };
}

describe('table', () => {
  it('escapes every cell and aligns the columns on what is shown', () => {
    const shown = table(
      ['KEY', 'N'],
      [
        [ATTACK, '1'],
        [Buffer.from([0xff, 0xfe, 0x41]), '2'],
        ['e\u0301', '3'],
        ['\u202etxt.exe', '4'],
      ],
    );
    const escaped = '\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x07'; // 31 columns, the widest cell
    const at = (text: string, columns: number): string => text + ' '.repeat(columns);
    expect(shown).toBe(
      [
        at('KEY', 31 - 3 + 2) + 'N',
        at(escaped, 2) + '1',
        at('\\xff\\xfeA', 31 - 9 + 2) + '2',
        at('e\u0301', 31 - 1 + 2) + '3', // one column: a letter and its combining mark
        at('\\u202etxt.exe', 31 - 13 + 2) + '4',
        '',
      ].join('\n'),
    );
    expect(shown.replaceAll('\n', '')).not.toMatch(/[\p{Cc}\u202e]/u);
  });

  it('cuts a column to its maximum between escapes, ending in …', () => {
    expect(table(['K', 'N'], [[ATTACK, '1']], [10])).toBe('K         N\n\\x1b[2J…  1\n');
    expect(table(['K'], [[Buffer.from([0x61, 0xff, 0x62])]], [4])).toBe('K\na…\n');
  });
});

describe('table, at the size of a quarantine flood', () => {
  const ROWS = 200_000;
  const KEY = 'k'.repeat(1 << 20); // a 1 MB upstream key

  it('shows 200,000 rows and a 1 MB key, every cell capped and the columns aligned', () => {
    const rows: Cell[][] = [[Buffer.from(KEY), 'first', '\u2026']];
    for (let i = 1; i < ROWS; i += 1) rows.push([Buffer.from(`key-${i}`), String(i), 'x']);
    const shown = table(['KEY', 'N', 'END'], rows).split('\n');
    expect(shown).toHaveLength(ROWS + 2); // the header, the rows, and the final newline
    expect(shown.at(-1)).toBe('');
    const key = `${'k'.repeat(CELL_COLUMNS - 1)}…`;
    const pad = (cell: string, width: number): string => cell + ' '.repeat(width - cell.length + 2);
    const n = String(ROWS - 1).length; // the N column: as wide as its widest number
    expect(shown[0]).toBe(`${pad('KEY', CELL_COLUMNS)}${pad('N', n)}END`);
    expect(shown[1]).toBe(`${key}  ${pad('first', n)}\\u2026`);
    expect(shown[2]).toBe(`${pad('key-1', CELL_COLUMNS)}${pad('1', n)}x`);
    expect(shown[ROWS]).toBe(`${pad(`key-${ROWS - 1}`, CELL_COLUMNS)}${ROWS - 1}  x`);
    // Every row's second column starts where the header's does.
    const misaligned = shown
      .slice(1, -1)
      .filter((line) => line[CELL_COLUMNS + 1] !== ' ' || line[CELL_COLUMNS + 2] === ' ');
    expect(misaligned).toEqual([]);
  });

  it('does as list does: the KEY column cut to KEY_COLUMNS, for 200,000 records', () => {
    const records = [quarantined(Buffer.from(KEY))];
    for (let i = 1; i < ROWS; i += 1) records.push(quarantined(Buffer.from(`key-${i}`)));
    const shown = table(
      ['KEY', 'CODE'],
      records.map((r) => [r.upstream.key ?? '', r.entry.issues[0]?.code ?? '']),
      [KEY_COLUMNS],
    ).split('\n');
    expect(shown).toHaveLength(ROWS + 2);
    expect(shown[1]).toBe(`${'k'.repeat(KEY_COLUMNS - 1)}…  map.unknown-code`);
    expect(shown[ROWS]).toBe(`key-${ROWS - 1}${' '.repeat(KEY_COLUMNS - 10 + 2)}map.unknown-code`);
  });

  it('does as stats does: the top keys, a 1 MB key first, capped', () => {
    const big = Buffer.from(KEY);
    const records = [quarantined(null)];
    for (let i = 0; i < 300; i += 1) records.push(quarantined(big));
    for (let i = 0; i < ROWS; i += 1) records.push(quarantined(Buffer.from(`key-${i % 1000}`)));
    const top = quarantineStats(records).key ?? [];
    expect(top).toHaveLength(10);
    const shown = table(
      ['KEY', 'COUNT'],
      top.map(([value, n]) => [value, String(n)]),
    ).split('\n');
    expect(shown).toHaveLength(12);
    expect(shown[0]).toBe(`KEY${' '.repeat(CELL_COLUMNS - 3 + 2)}COUNT`);
    expect(shown[1]).toBe(`${'k'.repeat(CELL_COLUMNS - 1)}…  300`);
    expect(shown[2]).toBe(`key-0${' '.repeat(CELL_COLUMNS - 5 + 2)}200`);
  });
});

describe('summaryOf', () => {
  it('gives the exact key: its text when UTF-8, base64 when not, null when none', () => {
    expect(summaryOf(quarantined(Buffer.from(ATTACK))).key).toBe(ATTACK);
    expect(summaryOf(quarantined(Buffer.from([0xff, 0x00, 0x80]))).key).toEqual({
      base64: '/wCA',
    });
    expect(summaryOf(quarantined(null)).key).toBeNull();
  });
});

describe('stats', () => {
  it('tells keys apart by their bytes, not by a lossy decoding', () => {
    // Both decode to U+FFFD as UTF-8: a lossy grouping would count them as one key.
    const records = [
      quarantined(Buffer.from([0xff])),
      quarantined(Buffer.from([0xfe])),
      quarantined(Buffer.from([0xfe])),
      quarantined(null),
    ];
    expect(countBy(records, (r) => r.upstream.key ?? '(no key)')).toEqual([
      [Buffer.from([0xfe]), 2],
      [Buffer.from([0xff]), 1],
      ['(no key)', 1],
    ]);
    expect(quarantineStats(records).code).toEqual([['map.unknown-code', 4]]);
  });
});
