import { setFlagsFromString } from 'node:v8';
import { Environment } from '@marcbachmann/cel-js';
import { setOwn } from '../core/objects.js';

// A mapping's `matches()` runs its regular expression over upstream text, through V8's
// backtracking engine: a pattern like `^(a+)+$` and a hostile 30-character string would hold
// the event loop for minutes. With this flag V8 switches a match that backtracks excessively
// to its linear-time engine (same result; patterns it cannot run, with backreferences or
// lookarounds, keep backtracking). Set once, for every entry point that evaluates CEL.
setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');

type Arithmetic = (a: number, b: number) => number;
const ARITHMETIC: readonly (readonly [string, Arithmetic])[] = [
  ['+', (a, b) => a + b],
  ['-', (a, b) => a - b],
  ['*', (a, b) => a * b],
  ['/', (a, b) => a / b],
];

/**
 * Arithmetic and equality between `int` and `double`, giving a `double` (`score * 1.5`,
 * `weightKg == 2`). CEL has no implicit conversion between them, but a JSON number carries no
 * type: 10 and 10.0 are the same value, and whole numbers reach CEL as `int` (see `toCel`) — so
 * without these, an expression over a field declared double passed `membrane validate` and
 * failed at run time for every whole value (found by a review). Registered on the run-time
 * environment and on the one `validate` type-checks with, so both agree.
 */
export function withMixedNumbers(env: Environment): Environment {
  for (const [op, apply] of ARITHMETIC) {
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => apply(Number(a), b));
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => apply(a, Number(b)));
  }
  // The library registers the mirrored `double == int` (and `!=`) itself.
  env.registerOperator('int == double', (a: bigint, b: number) => Number(a) === b);
  return env;
}

/** The environment every mapping expression runs in: CEL's standard library, mixed numbers. */
const runtime = withMixedNumbers(new Environment({ unlistedVariablesAreDyn: true }));

/**
 * CEL (via @marcbachmann/cel-js, chosen over @bufbuild/cel: about 5x faster on our
 * expressions, see bench/cel.ts). Expressions are parsed once at startup; at run time only
 * the variables an expression names are converted (CEL integers are BigInt).
 */
export interface CompiledExpression {
  readonly source: string;
  /** Names the expression may read as variables. */
  readonly names: readonly string[];
  /** Evaluates with the named variables looked up in `variables`, then in `extra`. */
  evaluate(
    variables: Readonly<Record<string, unknown>>,
    extra?: Readonly<Record<string, unknown>>,
  ): unknown;
  /** Evaluates against an activation built by `activation()` (shared by several expressions). */
  run(activation: Readonly<Record<string, unknown>>): unknown;
}

/**
 * The CEL variables for `names`, looked up in `extra` first, then in `variables`, each
 * converted once — so several expressions over one record share the conversion.
 */
export function activation(
  names: Iterable<string>,
  variables: Readonly<Record<string, unknown>>,
  extra?: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (const name of names) {
    if (extra && Object.hasOwn(extra, name)) setOwn(result, name, toCel(extra[name]));
    else if (Object.hasOwn(variables, name)) setOwn(result, name, toCel(variables[name]));
  }
  return result;
}

/** Throws the parser's error (with its message) for an invalid expression. */
export function compileExpression(source: string): CompiledExpression {
  const program = runtime.parse(source);
  const names = referencedNames(source);
  return {
    source,
    names,
    evaluate(variables, extra) {
      return program(activation(names, variables, extra)) as unknown;
    },
    run(prepared) {
      return program(prepared) as unknown;
    },
  };
}

/** Identifiers that may name a variable: not after a dot, not inside a string literal. */
export function referencedNames(source: string): readonly string[] {
  const withoutStrings = source.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""');
  const names = new Set<string>();
  for (const match of withoutStrings.matchAll(/(?<![.\w])([A-Za-z_]\w*)/g)) {
    if (match[1]) names.add(match[1]);
  }
  return [...names];
}

/** JSON-ish value → CEL value: integral numbers become BigInt (CEL `int`). */
export function toCel(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (Array.isArray(value)) return value.map(toCel);
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) setOwn(result, key, toCel(item));
    return result;
  }
  return value;
}

/** CEL value → JSON-ish value; undefined when it does not fit (an int beyond 2^53). */
export function fromCel(value: unknown): unknown {
  if (typeof value === 'bigint') {
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : undefined;
  }
  if (Array.isArray(value)) return value.map(fromCel);
  if (value instanceof Map) {
    const result: Record<string, unknown> = {};
    for (const [key, item] of value) setOwn(result, String(key), fromCel(item));
    return result;
  }
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) setOwn(result, key, fromCel(item));
    return result;
  }
  return value;
}
