import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MembraneError } from '../../../src/core/errors.js';
import type { Issue } from '../../../src/core/issues.js';
import type { Verdict } from '../../../src/core/verdict.js';
import {
  createUpcastStage,
  expressionSyntaxError,
  type UpcastStep,
} from '../../../src/pipeline/stages/upcast.js';

/** A stage from version 1 to 2 with one step. */
const oneStep = (step: UpcastStep) =>
  createUpcastStage({ field: 'v', current: 2, steps: { '1': step } });

const issuesOf = (verdict: Verdict<unknown>): readonly Issue[] =>
  verdict.kind === 'quarantine' ? verdict.issues : [];

describe('upcast compute: success', () => {
  it('turns cents as text into a decimal, then removes the field it read', () => {
    const stage = oneStep({
      compute: { amount: 'double(amount_cents) / 100.0' },
      remove: ['amount_cents'],
    });
    const input = { v: 1, order_id: 'o-1', amount_cents: '1999' };
    expect(stage(input)).toEqual({ kind: 'pass', value: { v: 2, order_id: 'o-1', amount: 19.99 } });
    expect(input).toEqual({ v: 1, order_id: 'o-1', amount_cents: '1999' });
  });

  it('runs rename → default → set → compute → remove, whatever the order of the keys', () => {
    const stage = oneStep({
      // Keys in the opposite order: the order of operations is fixed, not the file's.
      remove: ['qty_text', 'unit'],
      compute: {
        // reads the renamed field, the default and the set value; `unit` is removed after
        label: 'sku + "×" + string(int(qty_text)) + " " + unit + " (" + channel + ")"',
      },
      set: { channel: 'erp' },
      default: { unit: 'pcs' },
      rename: { article: 'sku' },
    });
    expect(stage({ v: 1, article: 'A-1', qty_text: '3' })).toEqual({
      kind: 'pass',
      value: { v: 2, sku: 'A-1', channel: 'erp', label: 'A-1×3 pcs (erp)' },
    });
  });

  it('lets every expression of a step read the record as `set` left it (a swap works)', () => {
    const stage = oneStep({ compute: { a: 'b', b: 'a', sum: 'a + b' } });
    expect(stage({ v: 1, a: 1, b: 10 })).toEqual({
      kind: 'pass',
      value: { v: 2, a: 10, b: 1, sum: 11 },
    });
  });

  it('chains across steps: the next step reads what the previous one computed', () => {
    const stage = createUpcastStage({
      field: 'v',
      current: 3,
      steps: {
        '1': { compute: { cents: 'int(cents_text)' }, remove: ['cents_text'] },
        '2': { compute: { amount: 'double(cents) / 100.0' }, remove: ['cents'] },
      },
    });
    expect(stage({ v: 1, cents_text: '250' })).toEqual({
      kind: 'pass',
      value: { v: 3, amount: 2.5 },
    });
    // A version-2 record starts at the second step.
    expect(stage({ v: '2', cents: 5 })).toEqual({ kind: 'pass', value: { v: 3, amount: 0.05 } });
  });

  it('offers `record` for fields that may be absent, and nested paths as targets', () => {
    const stage = oneStep({
      compute: {
        'money.currency': 'has(record.currency) ? currency : "EUR"',
        'money.cents': 'int(cents)',
      },
    });
    expect(stage({ v: 1, cents: '5' })).toEqual({
      kind: 'pass',
      value: { v: 2, cents: '5', money: { currency: 'EUR', cents: 5 } },
    });
    expect(stage({ v: 1, cents: '5', currency: 'CHF' })).toEqual({
      kind: 'pass',
      value: { v: 2, cents: '5', currency: 'CHF', money: { currency: 'CHF', cents: 5 } },
    });
  });

  it('gives plain values: safe integers as numbers, maps as objects, lists, bytes, null', () => {
    const stage = oneStep({
      compute: {
        count: 'size(items)',
        big: '9007199254740991',
        unsigned: 'uint(7)',
        pair: '{"first": items[0], "n": dyn(size(items))}',
        list: 'items.map(i, i.sku)',
        raw: 'b"ab"',
        nothing: 'null',
        flag: 'size(items) > 1',
        copy: 'nested',
      },
    });
    const input = { v: 1, items: [{ sku: 'S-1' }, { sku: 'S-2' }], nested: { a: [1, 2] } };
    const verdict = stage(input);
    expect(verdict).toEqual({
      kind: 'pass',
      value: {
        ...input,
        v: 2,
        count: 2,
        big: Number.MAX_SAFE_INTEGER,
        unsigned: 7,
        pair: { first: { sku: 'S-1' }, n: 2 },
        list: ['S-1', 'S-2'],
        raw: Buffer.from('ab'),
        nothing: null,
        flag: true,
        copy: { a: [1, 2] },
      },
    });
    // Results are own copies: changing the output does not reach the input.
    if (verdict.kind === 'pass') (verdict.value['copy'] as { a: number[] }).a.push(3);
    expect(input.nested).toEqual({ a: [1, 2] });
  });

  it('leaves current records alone: no expression runs for them', () => {
    const stage = oneStep({ compute: { amount: 'double(amount_cents) / 100.0' } });
    const current = { v: 2, amount: 1.5 };
    expect(stage(current)).toEqual({ kind: 'pass', value: current });
  });
});

describe('upcast compute: failures are verdicts', () => {
  const stage = createUpcastStage({
    field: 'schema_version',
    current: 3,
    steps: {
      '1': { rename: { total: 'amount_cents' } },
      '2': { compute: { amount: 'double(amount_cents) / 100.0' }, remove: ['amount_cents'] },
    },
  });

  it('a missing field: upcast.compute-failed with the field, the step and the expression', () => {
    expect(issuesOf(stage({ schema_version: 2, order_id: 'o-1' }))).toEqual([
      {
        code: 'upcast.compute-failed',
        path: 'amount',
        rule: 'upcast.steps.2.compute.amount',
        message:
          'version 2 → 3: amount = double(amount_cents) / 100.0 failed: the record has no field amount_cents',
      },
    ]);
  });

  it('a value of the wrong type: names the value it read', () => {
    expect(issuesOf(stage({ schema_version: 1, total: 'abc' }))).toEqual([
      {
        code: 'upcast.compute-failed',
        path: 'amount',
        rule: 'upcast.steps.2.compute.amount',
        message:
          'version 2 → 3: amount = double(amount_cents) / 100.0 failed: double() type error: cannot convert to double (read amount_cents: "abc")',
      },
    ]);
    const [wrongKind] = issuesOf(stage({ schema_version: 2, amount_cents: true }));
    expect(wrongKind?.message).toBe(
      "version 2 → 3: amount = double(amount_cents) / 100.0 failed: found no matching overload for 'double(bool)' (read amount_cents: true)",
    );
    const [isNull] = issuesOf(stage({ schema_version: 2, amount_cents: null }));
    expect(isNull?.message).toMatch(/failed: .*double\(null\).* \(read amount_cents: null\)$/);
  });

  it('a runtime error (division by zero, an index out of range, a missing key)', () => {
    const failing = oneStep({
      compute: {
        ratio: 'total / count',
        first: 'items[0]',
        city: 'record.address.city',
      },
    });
    const issues = issuesOf(failing({ v: 1, total: 10, count: 0, items: [], address: {} }));
    expect(issues.map((i) => [i.code, i.path, i.rule])).toEqual([
      ['upcast.compute-failed', 'ratio', 'upcast.steps.1.compute.ratio'],
      ['upcast.compute-failed', 'first', 'upcast.steps.1.compute.first'],
      ['upcast.compute-failed', 'city', 'upcast.steps.1.compute.city'],
    ]);
    expect(issues.map((i) => i.message)).toEqual([
      'version 1 → 2: ratio = total / count failed: division by zero (read total: 10, count: 0)',
      'version 1 → 2: first = items[0] failed: No such key: index out of bounds, index 0 >= size undefined (read items: [])',
      'version 1 → 2: city = record.address.city failed: No such key: city',
    ]);
  });

  it('a result no record field can hold: beyond ±2^53, not a number, a timestamp, a duration', () => {
    const failing = oneStep({
      compute: {
        huge: 'int(n) * 1000000000000',
        infinite: '1.0 / 0.0',
        nan: 'double("NaN")',
        when: 'timestamp("2026-01-01T00:00:00Z")',
        wait: 'duration("1s")',
      },
    });
    expect(issuesOf(failing({ v: 1, n: '1000000' })).map((i) => i.message)).toEqual([
      'version 1 → 2: huge = int(n) * 1000000000000 gave the integer 1000000000000000000, beyond ±2^53 (read n: "1000000")',
      'version 1 → 2: infinite = 1.0 / 0.0 gave Infinity, which no record field holds',
      'version 1 → 2: nan = double("NaN") gave NaN, which no record field holds',
      'version 1 → 2: when = timestamp("2026-01-01T00:00:00Z") gave a CEL timestamp, which no record field holds (convert it with string() or int())',
      'version 1 → 2: wait = duration("1s") gave a CEL duration, which no record field holds (convert it with string() or int())',
    ]);
  });

  it('a map with a reserved key reaches no prototype', () => {
    const sneaky = oneStep({ compute: { m: '{"__proto__": {"polluted": "yes"}}' } });
    expect(sneaky({ v: 1 })).toEqual({ kind: 'pass', value: { v: 2, m: {} } });
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('quotes a long or multi-line expression on one line, cut at 64 characters', () => {
    const source = `has(record.amount_cents)\n  ? double(amount_cents) / 100.0\n  : double(total_amount)`;
    const [failed] = issuesOf(oneStep({ compute: { total: source } })({ v: 1, total_amount: 'x' }));
    expect(failed?.message).toBe(
      'version 1 → 2: total = has(record.amount_cents) ? double(amount_cents) / 100.0 : doubl… failed: double() type error: cannot convert to double (read total_amount: "x")',
    );
  });

  it('reports every failing expression of the step, writes none, and leaves the input alone', () => {
    const failing = oneStep({ compute: { a: 'int(x)', b: 'int(y)', c: '"ok"' } });
    const input = { v: 1, x: 'one', y: 'two' };
    const verdict = failing(input);
    expect(issuesOf(verdict).map((i) => i.path)).toEqual(['a', 'b']);
    expect(input).toEqual({ v: 1, x: 'one', y: 'two' });
  });
});

describe('upcast compute: determinism', () => {
  const stage = oneStep({
    compute: { amount: 'double(amount_cents) / 100.0', cents: 'int(amount_cents)' },
    remove: ['amount_cents'],
  });
  const again = oneStep({
    compute: { amount: 'double(amount_cents) / 100.0', cents: 'int(amount_cents)' },
    remove: ['amount_cents'],
  });

  it('gives the same verdict for the same record, every time and in every instance', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 12 }), fc.anything()), (amountCents) => {
        const input = { v: 1, amount_cents: amountCents };
        const before = structuredClone(input);
        const first = stage(input);
        expect(stage(input)).toEqual(first);
        expect(again(structuredClone(input))).toEqual(first);
        expect(input).toEqual(before);
        expect(
          first.kind === 'pass' || issuesOf(first).every((i) => i.code === 'upcast.compute-failed'),
        ).toBe(true);
      }),
    );
  });

  it('computes exactly what it says for every integer in cents', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), (cents) => {
        expect(stage({ v: 1, amount_cents: String(cents) })).toEqual({
          kind: 'pass',
          // + 0: CEL has no negative zero
          value: { v: 2, amount: cents / 100 + 0, cents: cents + 0 },
        });
      }),
    );
  });
});

describe('upcast compute: syntax errors', () => {
  it('says what is wrong and where in the expression', () => {
    expect(expressionSyntaxError('double(amount_cents) / 100.0')).toBeUndefined();
    expect(expressionSyntaxError('double(amount_cents) /')).toBe(
      'invalid CEL expression: Unexpected token: EOF (column 23 of the expression)',
    );
    expect(expressionSyntaxError('a ==\n  = b')).toBe(
      'invalid CEL expression: Unexpected character: = (line 2, column 3 of the expression)',
    );
    expect(
      expressionSyntaxError('has(record.cents)\n  ? double(cents) / 100.0\n  : amount = 0'),
    ).toBe(
      'invalid CEL expression: Unexpected character: = (line 3, column 12 of the expression; use == to compare: has(record.cents)\n  ? double(cents) / 100.0\n  : amount == 0)',
    );
  });

  it('refuses a stage built with one, naming its place (mapping files are checked on load)', () => {
    let error: unknown;
    try {
      oneStep({ compute: { amount: 'amount_cents = 1' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MembraneError);
    expect((error as MembraneError).code).toBe('mapping.invalid');
    expect((error as MembraneError).message).toBe(
      'upcast.steps.1.compute.amount: invalid CEL expression: Unexpected character: = (column 14 of the expression; use == to compare: amount_cents == 1)',
    );
  });
});
