import { describe, expect, it } from 'vitest';
import type { QuarantinedRecord, Resolution } from '../../../../src/app/quarantine/store.js';
import {
  countLine,
  isoOfEpoch,
  selectFrom,
  summaryOf,
  unresolvedIn,
} from '../../../../src/cli/commands/quarantine/common.js';
import { listTable, REASON_COLUMNS } from '../../../../src/cli/commands/quarantine/list.js';
import { statsHeadline } from '../../../../src/cli/commands/quarantine/stats.js';
import {
  leftSentence,
  resolvedByReplay,
  splitForUnresolve,
} from '../../../../src/cli/commands/quarantine/unresolve.js';
import { MembraneError } from '../../../../src/core/errors.js';

const BY_RESOLVE: Resolution = { status: 'resolved', by: 'resolve', at: '2026-11-22T09:00:00Z' };
const BY_REPLAY: Resolution = {
  status: 'resolved',
  by: 'replay',
  at: '2026-11-22T09:00:00Z',
  outputs: ['9ae9c8e2-0466-588b-b6fc-4022ceaa474a'],
};
const SUPERSEDED: Resolution = {
  status: 'superseded',
  by: 'replay',
  at: '2026-11-22T09:00:00Z',
  reason: 'map.unknown-code',
};

function record(
  offset: number,
  options: { resolution?: Resolution; code?: string; message?: unknown; timestamp?: string } = {},
): QuarantinedRecord {
  return {
    ref: `0:${offset}`,
    partition: 0,
    offset: String(offset),
    entry: {
      source: {
        topic: 'erp.orders',
        partition: offset % 2,
        offset: String(100 + offset),
        timestamp: options.timestamp ?? '1795327782602',
      },
      mapping: 'legacy-orders@3',
      stage: 'map',
      issues: [
        {
          code: (options.code ?? 'map.unknown-code') as 'map.unknown-code',
          path: 'status',
          message: (options.message ??
            `"Q" is not in the code table of status #${offset}`) as string,
        },
      ],
      id: undefined,
      quarantinedAt: `2026-11-22T06:09:0${offset}.123Z`,
      attempt: 1,
    },
    upstream: { key: Buffer.from(`o-${offset}`), value: null, headers: {} },
    resolution: options.resolution,
  };
}

const RECORDS = [
  record(1),
  record(2, { resolution: BY_RESOLVE }),
  record(3, { code: 'trust.signature-invalid' }),
  record(4, { resolution: BY_REPLAY }),
  record(5),
];

describe('selectFrom', () => {
  it('selects by filters and state; matching counts every state, for the totals', () => {
    const { matching, selected } = selectFrom(RECORDS, { code: 'map.*' }, 'unresolved', 'q');
    expect(matching.map((r) => r.ref)).toEqual(['0:1', '0:2', '0:4', '0:5']);
    expect(selected.map((r) => r.ref)).toEqual(['0:1', '0:5']);
    expect(selectFrom(RECORDS, {}, 'resolved', 'q').selected.map((r) => r.ref)).toEqual([
      '0:2',
      '0:4',
    ]);
    expect(selectFrom(RECORDS, { partition: 1 }, 'all', 'q').selected).toHaveLength(3);
  });

  it('cuts the selection to --limit, oldest first, after the state', () => {
    const { matching, selected } = selectFrom(RECORDS, { limit: 2 }, 'unresolved', 'q');
    expect(matching).toHaveLength(5);
    expect(selected.map((r) => r.ref)).toEqual(['0:1', '0:3']);
  });

  it('takes refs, with the filters: those that match both', () => {
    expect(
      selectFrom(RECORDS, {}, 'unresolved', 'q', ['0:5', '0:3']).selected.map((r) => r.ref),
    ).toEqual(['0:3', '0:5']);
    expect(
      selectFrom(RECORDS, { code: 'trust.*' }, 'unresolved', 'q', ['0:5', '0:3']).selected.map(
        (r) => r.ref,
      ),
    ).toEqual(['0:3']);
    // A ref that is resolved is not selected for what acts on unresolved ones.
    expect(selectFrom(RECORDS, {}, 'unresolved', 'q', ['0:2']).selected).toEqual([]);
  });

  it('refuses a ref that names no quarantine record: a typo is not "nothing to do"', () => {
    expect(() =>
      selectFrom(RECORDS, {}, 'unresolved', 'membrane.quarantine', ['0:9', '7:1']),
    ).toThrow(
      new MembraneError('cli.not-found', 'No quarantine record 0:9, 7:1 in membrane.quarantine.', {
        hint: 'take the REF column of `membrane quarantine list --all`',
      }),
    );
  });
});

describe('counting in words', () => {
  it('says unresolved of total, and the records that are not quarantine records', () => {
    expect(unresolvedIn(RECORDS)).toBe(3);
    expect(countLine(93, 180)).toBe('93 unresolved of 180 quarantine records');
    expect(countLine(1, 1)).toBe('1 unresolved of 1 quarantine record');
    expect(countLine(0, 2, 3)).toBe(
      '0 unresolved of 2 quarantine records (and 3 records that are not quarantine records)',
    );
  });

  it('stats: the same line, and which records the groups count when not the unresolved ones', () => {
    const all = (state: 'unresolved' | 'resolved' | 'all', options = {}): string =>
      statsHeadline({ ...selectFrom(RECORDS, options, state, 'q'), skipped: 1 }, state, options);
    expect(all('unresolved')).toBe(
      '3 unresolved of 5 quarantine records (and 1 record that is not a quarantine record)\n',
    );
    expect(all('resolved')).toBe(
      '3 unresolved of 5 quarantine records (and 1 record that is not a quarantine record)\ncounted below: the 2 resolved\n',
    );
    expect(all('all')).toBe(
      '3 unresolved of 5 quarantine records (and 1 record that is not a quarantine record)\ncounted below: all 5\n',
    );
    expect(all('unresolved', { code: 'map.*' })).toBe(
      '2 unresolved of 4 quarantine records that match the filters\n',
    );
    expect(all('unresolved', { limit: 1 })).toBe(
      '3 unresolved of 5 quarantine records (and 1 record that is not a quarantine record)\ncounted below: the first 1 unresolved (--limit)\n',
    );
  });
});

describe('list', () => {
  it('has a REASON column: the first issue’s message, escaped and cut like other cells', () => {
    const long = `unknown status "\x1b[2J" ${'x'.repeat(200)}`;
    const shown = listTable([
      record(1),
      record(2, { message: long, resolution: BY_RESOLVE }),
      record(3, { message: 42 }),
    ]).split('\n');
    expect(shown[0]).toMatch(
      /^REF {2}QUARANTINED {11}CODE {14}MAPPING {10}SOURCE {12}KEY {2}ATTEMPT {2}STATE {7}REASON$/,
    );
    expect(shown[1]).toMatch(/ 1 {8}unresolved {2}"Q" is not in the code table of status #1$/);
    const reason = (shown[2] ?? '').slice((shown[0] ?? '').indexOf('REASON'));
    expect(reason).toMatch(/^unknown status "\\x1b\[2J" x+…$/);
    expect(reason).toHaveLength(REASON_COLUMNS);
    expect(shown[3]).toMatch(/ 42$/);
    // ISO 8601, to the second, as the quarantine header holds it.
    expect(shown[1]).toContain(' 2026-11-22T06:09:01Z ');
  });
});

describe('show and list --json', () => {
  it('give the source timestamp as Kafka has it and as ISO 8601', () => {
    expect(summaryOf(record(1))['source']).toEqual({
      topic: 'erp.orders',
      partition: 1,
      offset: '101',
      timestamp: '1795327782602',
      time: '2026-11-22T06:09:42.602Z',
    });
    expect(summaryOf(record(1, { timestamp: '-1' }))['source']).toMatchObject({ time: null });
  });

  it('isoOfEpoch: only epoch milliseconds are a time', () => {
    expect(isoOfEpoch('0')).toBe('1970-01-01T00:00:00.000Z');
    for (const text of ['-1', '', '1e12', ' 1', '99999999999999999'])
      expect(isoOfEpoch(text)).toBeUndefined();
  });
});

describe('unresolve', () => {
  it('takes back what `resolve` resolved; what a replay resolved only with --force', () => {
    const selected = [
      record(1, { resolution: BY_RESOLVE }),
      record(2, { resolution: BY_REPLAY }),
      record(3, { resolution: SUPERSEDED }),
    ];
    expect(selected.map(resolvedByReplay)).toEqual([false, true, true]);
    const careful = splitForUnresolve(selected, false);
    expect(careful.take.map((r) => r.ref)).toEqual(['0:1']);
    expect(careful.left.map((r) => r.ref)).toEqual(['0:2', '0:3']);
    expect(splitForUnresolve(selected, true).take).toHaveLength(3);
    expect(leftSentence([])).toBe('');
    expect(leftSentence(careful.left)).toBe(
      '2 record(s) resolved by a replay left resolved: their outputs are written (or the mapping dropped them, or a newer quarantine record supersedes them), and a second replay would write them again; --force takes them back too.\n',
    );
  });

  it('takes back what an unpack resolved only with --force: a second unpack would add its records again', () => {
    const unpacked = record(4, {
      resolution: { status: 'superseded', by: 'unpack', at: '2026-11-30T00:00:00.000Z' },
    });
    expect(resolvedByReplay(unpacked)).toBe(true);
    const careful = splitForUnresolve([unpacked, record(2, { resolution: BY_REPLAY })], false);
    expect(careful.take).toEqual([]);
    expect(leftSentence(careful.left)).toBe(
      '1 record(s) resolved by a replay left resolved: their outputs are written (or the mapping dropped them, or a newer quarantine record supersedes them), and a second replay would write them again; --force takes them back too.\n' +
        '1 refused batch(es) unpacked left resolved: their records are in the quarantine on their own, and a second unpack would add them again; --force takes them back too.\n',
    );
  });
});
