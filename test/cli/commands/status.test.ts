import { describe, expect, it } from 'vitest';
import { quarantineLines } from '../../../src/cli/commands/status.js';
import { CELL_COLUMNS } from '../../../src/cli/text.js';

const ATTACK = '\x1b[2J\x1b[31mPWNED\x1b[0m\x07';

describe('membrane status: the quarantine lines', () => {
  it('escapes codes that other tools wrote to the quarantine topic', () => {
    const shown = quarantineLines('membrane.quarantine', {
      'map.unknown-code': 3,
      [ATTACK]: 1,
      '\u202etxt.exe': 2,
    });
    expect(shown).toBe(
      [
        'quarantine membrane.quarantine: 6 record(s)',
        `  map.unknown-code${' '.repeat(28 - 16)} 3`,
        `  \\u202etxt.exe${' '.repeat(28 - 13)} 2`,
        '  \\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x07 1', // wider than the column: one space
        '',
      ].join('\n'),
    );
    expect(shown.replaceAll('\n', '')).not.toMatch(/[\p{Cc}\u202e]/u);
  });

  it('cuts a megabyte code like a table cell, and counts every code once', () => {
    const huge = 'c'.repeat(1 << 20);
    const shown = quarantineLines('q', { [huge]: 5, 'decode.invalid-json': 5 });
    expect(shown).toBe(
      [
        'quarantine q: 10 record(s)',
        `  ${'c'.repeat(CELL_COLUMNS - 1)}… 5`,
        `  decode.invalid-json${' '.repeat(28 - 19)} 5`,
        '',
      ].join('\n'),
    );
  });

  it('says how many there are when there are none', () => {
    expect(quarantineLines('q', {})).toBe('quarantine q: 0 record(s)\n');
  });
});
