import { describe, expect, it } from 'vitest';
import { createUpcastStage } from '../../../src/pipeline/stages/upcast.js';

describe('upcast', () => {
  const stage = createUpcastStage({
    field: 'v',
    current: 3,
    steps: {
      '1': { rename: { amount: 'total' }, default: { currency: 'EUR' } },
      '2': { set: { 'meta.migrated': true }, remove: ['legacy'] },
    },
  });

  it('walks old shapes up version by version, without touching the input', () => {
    const input = { v: 1, amount: '5', legacy: 'x' };
    expect(stage(input)).toEqual({
      kind: 'pass',
      value: { v: 3, total: '5', currency: 'EUR', meta: { migrated: true } },
    });
    expect(input).toEqual({ v: 1, amount: '5', legacy: 'x' });
    expect(stage({ v: '2', total: '1', currency: 'USD', legacy: 1 })).toEqual({
      kind: 'pass',
      value: { v: 3, total: '1', currency: 'USD', meta: { migrated: true } },
    });
  });

  it('passes the current version as is and quarantines unknown ones', () => {
    const current = { v: 3, total: '1' };
    expect(stage(current)).toEqual({ kind: 'pass', value: current });
    for (const v of [4, 0, 'x', undefined]) {
      const verdict = stage({ v });
      expect(verdict.kind === 'quarantine' && verdict.issues[0]?.code).toBe(
        'upcast.unknown-version',
      );
    }
  });
});
