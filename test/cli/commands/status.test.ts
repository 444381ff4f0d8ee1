import { describe, expect, it } from 'vitest';
import type { GroupStatus } from '../../../src/adapters/kafka/status.js';
import type { QuarantinedRecord, Resolution } from '../../../src/app/quarantine/store.js';
import {
  censusOf,
  committedText,
  groupLines,
  quarantineLines,
  statusJson,
} from '../../../src/cli/commands/status.js';
import { CELL_COLUMNS } from '../../../src/cli/text.js';

const ATTACK = '\x1b[2J\x1b[31mPWNED\x1b[0m\x07';
const RESOLVED: Resolution = { status: 'resolved', by: 'resolve', at: '2026-11-22T09:00:00.000Z' };

let offset = 0;
function record(code: string, resolution?: Resolution): QuarantinedRecord {
  offset += 1;
  return {
    ref: `0:${offset}`,
    partition: 0,
    offset: String(offset),
    entry: {
      source: { topic: 'erp.orders', partition: 0, offset: '1', timestamp: '0' },
      mapping: 'legacy-orders@3',
      stage: 'map',
      // Codes are header values: whatever wrote to the topic chose them.
      issues: [{ code: code as 'map.unknown-code', path: '', message: 'm' }],
      id: undefined,
      quarantinedAt: '2026-11-22T06:00:00.000Z',
      attempt: 1,
    },
    upstream: { key: null, value: null, headers: {} },
    resolution,
  };
}

const times = (n: number, make: () => QuarantinedRecord): QuarantinedRecord[] =>
  Array.from({ length: n }, make);

describe('membrane status: the quarantine', () => {
  it('says unresolved of total, in the words of quarantine stats, and both counts per code', () => {
    const census = censusOf(
      'membrane.quarantine',
      [
        ...times(60, () => record('trust.signature-invalid', RESOLVED)),
        ...times(33, () => record('decode.invalid-json')),
        ...times(27, () => record('decode.invalid-json', RESOLVED)),
        ...times(60, () => record('map.unknown-code')),
      ],
      0,
    );
    expect(quarantineLines(census)).toBe(
      [
        'quarantine membrane.quarantine: 93 unresolved of 180 quarantine records',
        'CODE                     UNRESOLVED  TOTAL',
        'map.unknown-code         60          60',
        'decode.invalid-json      33          60',
        'trust.signature-invalid  0           60',
        '',
      ].join('\n'),
    );
  });

  it('counts records that are not quarantine records apart, and says so', () => {
    expect(quarantineLines(censusOf('q', [record('map.unknown-code')], 2)).split('\n')[0]).toBe(
      'quarantine q: 1 unresolved of 1 quarantine record (and 2 records that are not quarantine records)',
    );
    expect(quarantineLines(censusOf('q', [], 1))).toBe(
      'quarantine q: 0 unresolved of 0 quarantine records (and 1 record that is not a quarantine record)\n',
    );
  });

  it('escapes and cuts codes that other tools wrote to the quarantine topic', () => {
    const huge = 'c'.repeat(1 << 20);
    const shown = quarantineLines(
      censusOf(
        'q',
        [record(ATTACK), record('\u202etxt.exe'), record(huge), record('__proto__')],
        0,
      ),
    );
    expect(shown).toContain('\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x07');
    expect(shown).toContain('\\u202etxt.exe');
    expect(shown).toContain(`${'c'.repeat(CELL_COLUMNS - 1)}…`);
    expect(shown).toMatch(/^__proto__ +1 +1$/m);
    expect(shown.replaceAll('\n', '')).not.toMatch(/[\p{Cc}\u202e]/u);
  });
});

const GROUP: GroupStatus = {
  group: 'membrane',
  state: 'Stable',
  members: 1,
  partitions: [
    { topic: 'erp.orders', partition: 0, committed: 212, end: 212, lag: 0 },
    { topic: 'erp.orders', partition: 1, committed: -1, end: 7, lag: 7 },
  ],
  quarantined: undefined,
  undescribable: [],
  live: [],
  inputsFrom: 'mappings',
};

describe('membrane status: the group', () => {
  it('never shows Kafka’s -1: a partition with nothing committed says so in words', () => {
    expect(committedText(-1)).toBe('none committed');
    expect(committedText(0)).toBe('0');
    expect(groupLines(GROUP)).toBe(
      [
        'group membrane: Stable, 1 member(s)',
        'TOPIC       PARTITION  COMMITTED       END  LAG',
        'erp.orders  0          212             212  0',
        'erp.orders  1          none committed  7    7',
        'total lag 7',
        '',
      ].join('\n'),
    );
  });

  it('lists the mapping versions each member runs; while rebalancing, says they show later', () => {
    const live = [
      {
        memberId: 'm-1',
        clientId: 'membrane',
        host: '10.0.0.7',
        versions: new Map([['legacy-orders', { version: 3, digest: '5f0c1d2e00000000' }]]),
        topics: ['erp.orders'],
      },
    ];
    const lines = groupLines({ ...GROUP, partitions: [], live });
    expect(lines).toContain(
      'group membrane: Stable, 1 member(s)\n  membrane@10.0.0.7  legacy-orders@3 (5f0c1d2e)\n',
    );
    expect(statusJson({ ...GROUP, partitions: [], live }, undefined)['memberVersions']).toEqual([
      {
        memberId: 'm-1',
        clientId: 'membrane',
        host: '10.0.0.7',
        mappings: { 'legacy-orders': { version: 3, digest: '5f0c1d2e00000000' } },
      },
    ]);
    expect(groupLines({ ...GROUP, state: 'PreparingRebalance', partitions: [] })).toContain(
      '  (the mapping versions each member runs show once the group is stable)\n',
    );
  });

  it('says the total is a lower bound when no member runs and the mappings’ inputs are not all known', () => {
    expect(
      groupLines(GROUP, ['mappings/crm.yaml reads ${env:CRM_IN} and CRM_IN is not set']),
    ).toContain(
      'total lag ≥ 7: no member is running, and the inputs of the mappings are not all known (mappings/crm.yaml reads ${env:CRM_IN} and CRM_IN is not set); an input the principal may not describe would be missing here\n',
    );
  });

  it('--json: committed null where nothing is committed; the census; every record by code', () => {
    const census = censusOf(
      'q',
      [record('map.unknown-code'), record('map.unknown-code', RESOLVED)],
      1,
    );
    expect(statusJson(GROUP, census)).toEqual({
      group: 'membrane',
      state: 'Stable',
      members: 1,
      memberVersions: [],
      partitions: [
        { topic: 'erp.orders', partition: 0, committed: 212, end: 212, lag: 0 },
        { topic: 'erp.orders', partition: 1, committed: null, end: 7, lag: 7 },
      ],
      quarantine: {
        topic: 'q',
        unresolved: 1,
        total: 2,
        notQuarantine: 1,
        codes: { 'map.unknown-code': { unresolved: 1, total: 2 } },
      },
      quarantined: { 'map.unknown-code': 2 },
    });
    expect(JSON.stringify(statusJson(GROUP, census))).not.toContain('-1');
    expect(statusJson(GROUP, undefined)).toMatchObject({ quarantine: null });
    expect(statusJson(GROUP, undefined)).not.toHaveProperty('quarantined');
  });
});
