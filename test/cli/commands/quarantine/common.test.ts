import { describe, expect, it } from 'vitest';
import type { QuarantinedRecord } from '../../../../src/app/quarantine/store.js';
import { summaryOf, table } from '../../../../src/cli/commands/quarantine/common.js';
import { countBy, quarantineStats } from '../../../../src/cli/commands/quarantine/stats.js';

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
