import { describe, expect, it } from 'vitest';
import { compileExpression, fromCel, referencedNames, toCel } from '../../src/pipeline/cel.js';

describe('CEL', () => {
  it('sees JSON integers as CEL ints, so integer literals compare and compute', () => {
    const total = compileExpression('totalCents / 100 > 1 && size(lines) == 2');
    expect(total.evaluate({ totalCents: 250, lines: [1, 2] })).toBe(true);
    expect(fromCel(compileExpression('qty * 2').evaluate({ qty: 3 }))).toBe(6);
  });

  it('looks variables up in `extra` first (for `record`, `headers`)', () => {
    const e = compileExpression('record.type == "C" && headers["x-a"] == "1"');
    expect(e.evaluate({ type: 'X' }, { record: { type: 'C' }, headers: { 'x-a': '1' } })).toBe(
      true,
    );
  });

  it('names the variables an expression may read, ignoring fields and strings', () => {
    expect(referencedNames('a.b > c && "d e" == f.g("h") && size(i)')).toEqual([
      'a',
      'c',
      'f',
      'size',
      'i',
    ]);
  });

  it('converts values both ways', () => {
    expect(toCel({ a: [1, 1.5, 'x'] })).toEqual({ a: [1n, 1.5, 'x'] });
    expect(fromCel({ a: [1n, 1.5] })).toEqual({ a: [1, 1.5] });
    expect(fromCel(2n ** 60n)).toBeUndefined();
  });

  it('throws at compile time for a syntax error', () => {
    expect(() => compileExpression('a >')).toThrow();
  });
});

describe('CEL values built from upstream data', () => {
  it('keep `__proto__` keys as own properties both ways, never as prototype links', () => {
    const upstream = JSON.parse('{"a":{"__proto__":{"polluted":"yes"},"n":1}}') as unknown;
    const cel = toCel(upstream) as { a: Record<string, unknown> };
    expect(Object.getPrototypeOf(cel.a)).toBe(Object.prototype);
    expect(Object.keys(cel.a)).toEqual(['__proto__', 'n']);
    expect(cel.a['polluted']).toBeUndefined();
    const back = fromCel(new Map([['__proto__', new Map([['polluted', 'yes']])]])) as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.keys(back)).toEqual(['__proto__']);
    expect(back['polluted']).toBeUndefined();
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('CEL regular expressions over upstream text', () => {
  it('cannot be made to backtrack for ever: V8 falls back to its linear engine', () => {
    // Without the fallback, 2^28 steps: ~20 s of a blocked event loop on this machine.
    const rule = compileExpression("s.matches('^(a+)+$')");
    expect(rule.evaluate({ s: `${'a'.repeat(28)}b` })).toBe(false);
    expect(rule.evaluate({ s: 'a'.repeat(28) })).toBe(true);
  });
});

describe('numbers: int and double mix', () => {
  it('adds, subtracts, multiplies, divides and compares an int with a double, giving a double', () => {
    const run = (source: string, variables: Record<string, unknown> = {}): unknown =>
      compileExpression(source).evaluate(variables);
    expect(run('x * 1.5', { x: 10 })).toBe(15);
    expect(run('x * 1.5', { x: 10.5 })).toBe(15.75);
    expect(run('1.5 + x - 0.5', { x: 2 })).toBe(3);
    expect(run('x / 4.0', { x: 10 })).toBe(2.5);
    expect(run('x == 2 && 2 == x && x != 3', { x: 2.0 })).toBe(true);
    // int with int stays int (CEL): 7 / 2 is 3.
    expect(run('7 / 2')).toBe(3n);
  });
});
