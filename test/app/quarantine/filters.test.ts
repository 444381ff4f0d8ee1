import { describe, expect, it } from 'vitest';
import {
  compileFilter,
  globToRegExp,
  parseTime,
  type QuarantineFilter,
} from '../../../src/app/quarantine/filters.js';
import type { QuarantinedRecord } from '../../../src/app/quarantine/store.js';

const now = new Date('2026-11-22T12:00:00Z');

function record(overrides: {
  code?: string;
  stage?: string;
  mapping?: string;
  at?: string;
  key?: string;
  resolved?: boolean;
}): QuarantinedRecord {
  return {
    ref: '0:1',
    partition: 0,
    offset: '1',
    entry: {
      source: { topic: 'erp.orders', partition: 2, offset: '7', timestamp: '0' },
      mapping: overrides.mapping ?? 'legacy-orders@3',
      stage: (overrides.stage ?? 'map') as 'map',
      issues: [
        {
          code: (overrides.code ?? 'map.cast-failed') as 'map.cast-failed',
          path: 'qty',
          message: 'x',
        },
      ],
      id: undefined,
      quarantinedAt: overrides.at ?? '2026-11-22T11:30:00.000Z',
      attempt: 1,
    },
    upstream: { key: Buffer.from(overrides.key ?? 'o-1'), value: null, headers: {} },
    resolution: overrides.resolved
      ? { status: 'resolved', by: 'resolve', at: '2026-11-22T11:45:00Z' }
      : undefined,
  };
}

const select = (filter: Partial<QuarantineFilter>, r: QuarantinedRecord): boolean =>
  compileFilter({ state: 'unresolved', ...filter })(r);

describe('quarantine filters', () => {
  it('reads durations and ISO times, and names a bad one', () => {
    expect(parseTime('2h', now, '--since')).toEqual(new Date('2026-11-22T10:00:00Z'));
    expect(parseTime('30m', now, '--since')).toEqual(new Date('2026-11-22T11:30:00Z'));
    expect(parseTime('2026-11-01T00:00:00Z', now, '--until')).toEqual(
      new Date('2026-11-01T00:00:00Z'),
    );
    expect(() => parseTime('yesterday', now, '--since')).toThrow(
      /--since yesterday is neither a duration/,
    );
  });

  it('matches codes by glob', () => {
    expect(globToRegExp('trust.*').test('trust.signature-invalid')).toBe(true);
    expect(globToRegExp('trust.*').test('decode.invalid-json')).toBe(false);
    expect(globToRegExp('map.cast-?ailed').test('map.cast-failed')).toBe(true);
  });

  it('selects by code, stage, mapping with or without version, key, time and state', () => {
    const r = record({});
    expect(select({ code: 'map.*' }, r)).toBe(true);
    expect(select({ code: 'trust.*' }, r)).toBe(false);
    expect(select({ stage: 'decode' }, r)).toBe(false);
    expect(select({ mapping: 'legacy-orders' }, r)).toBe(true);
    expect(select({ mapping: 'legacy-orders@3' }, r)).toBe(true);
    expect(select({ mapping: 'legacy-orders@4' }, r)).toBe(false);
    expect(select({ topic: 'erp.orders', partition: 2 }, r)).toBe(true);
    expect(select({ partition: 1 }, r)).toBe(false);
    expect(select({ key: 'o-1' }, r)).toBe(true);
    expect(select({ key: 'o-2' }, r)).toBe(false);
    expect(select({ since: new Date('2026-11-22T11:00:00Z') }, r)).toBe(true);
    expect(select({ until: new Date('2026-11-22T11:00:00Z') }, r)).toBe(false);
    const done = record({ resolved: true });
    expect(select({}, done)).toBe(false);
    expect(select({ state: 'resolved' }, done)).toBe(true);
    expect(select({ state: 'all' }, done)).toBe(true);
    expect(select({ state: 'resolved' }, r)).toBe(false);
  });
});
