import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compare,
  formatClock,
  increment,
  merge,
  parseClock,
  type VectorClock,
} from '../../src/core/vector-clock.js';

const node = fc.constantFrom('erp', 'wms', 'shop', 'crm');
const clock: fc.Arbitrary<VectorClock> = fc.dictionary(node, fc.nat({ max: 1000 }));

describe('VectorClock', () => {
  it('increment is after the clock it came from', () => {
    fc.assert(
      fc.property(
        clock,
        node,
        (c, n) =>
          compare(increment(c, n), c) === 'after' && compare(c, increment(c, n)) === 'before',
      ),
    );
  });

  it('merge is commutative, associative and idempotent', () => {
    fc.assert(
      fc.property(clock, clock, clock, (a, b, c) => {
        expect(compare(merge(a, b), merge(b, a))).toBe('equal');
        expect(compare(merge(merge(a, b), c), merge(a, merge(b, c)))).toBe('equal');
        expect(compare(merge(a, a), a)).toBe('equal');
      }),
    );
  });

  it('merge is after-or-equal both inputs', () => {
    fc.assert(
      fc.property(clock, clock, (a, b) => {
        const m = merge(a, b);
        return (
          ['after', 'equal'].includes(compare(m, a)) && ['after', 'equal'].includes(compare(m, b))
        );
      }),
    );
  });

  it('compare is antisymmetric', () => {
    const flip = {
      before: 'after',
      after: 'before',
      equal: 'equal',
      concurrent: 'concurrent',
    } as const;
    fc.assert(fc.property(clock, clock, (a, b) => compare(b, a) === flip[compare(a, b)]));
  });

  it('two sources that each advance without seeing the other are concurrent', () => {
    const base = { erp: 2, wms: 1 };
    expect(compare(increment(base, 'erp'), increment(base, 'wms'))).toBe('concurrent');
  });

  it('treats a missing component as zero', () => {
    expect(compare({ erp: 1, wms: 0 }, { erp: 1 })).toBe('equal');
    expect(formatClock({ wms: 0, erp: 1 })).toBe('{"erp":1}');
  });

  it('formats canonically and parses back', () => {
    fc.assert(fc.property(clock, (c) => compare(parseClock(formatClock(c)) ?? {}, c) === 'equal'));
    expect(formatClock({ wms: 2, erp: 1 })).toBe(formatClock({ erp: 1, wms: 2 }));
    expect(parseClock('{"erp":-1}')).toBeUndefined();
    expect(parseClock('[1]')).toBeUndefined();
    expect(parseClock('nope')).toBeUndefined();
  });

  it('never mutates its arguments', () => {
    const c = Object.freeze({ erp: 1 });
    expect(() => increment(c, 'erp')).not.toThrow();
    expect(() => merge(c, { erp: 2 })).not.toThrow();
    expect(c).toEqual({ erp: 1 });
  });

  it('treats nodes named like Object.prototype members as nodes, and refuses overlong names', () => {
    const upstream = parseClock('{"constructor":5,"__proto__":2,"toString":1,"crm":3}');
    expect(upstream).toBeDefined();
    const merged = merge({ crm: 1 }, upstream ?? {});
    expect(Object.keys(merged).sort()).toEqual(['__proto__', 'constructor', 'crm', 'toString']);
    expect(compare(merged, { crm: 3 })).toBe('after');
    expect(formatClock(increment({}, 'constructor'))).toBe('{"constructor":1}');
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(parseClock(`{"${'n'.repeat(257)}":1}`)).toBeUndefined();
    expect(parseClock(`{"${'n'.repeat(256)}":1}`)).toBeDefined();
  });
});
