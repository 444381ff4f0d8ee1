/**
 * How `membrane test` compares what a mapping produced with what a test case expects, and
 * how it says where they differ: one line per difference, each naming the path in the
 * expectation (`outputs[0].value.customer.name: expected "Erika", got "Erika Mustermann"`).
 *
 * Two modes, for an output's `value:` and its `contains:`:
 * - `exact`: the whole value — every field the expectation names must be there and equal, and
 *   the actual value has no other fields. The fields it has beyond those are named together on
 *   one line per object, not one line each.
 * - `contains`: the fields the expectation names must be there and equal; others are not
 *   looked at. Objects are compared by subset at any depth (inside arrays too).
 *
 * In both modes arrays are compared element by element, in order, and must have the same
 * length (an element in `contains` mode is itself compared by subset); other values are
 * compared exactly, type included (`1` is not `"1"`, `null` is not a missing field).
 */

export type CompareMode = 'exact' | 'contains';

const MAX_SHOWN = 200;
// JSON.stringify gives undefined for functions and symbols; its declared type hides that.
const stringify = JSON.stringify as (
  value: unknown,
  replacer: (key: string, value: unknown) => unknown,
) => string | undefined;

/** A value as a difference line shows it: JSON, cut at 200 characters; `nothing` if absent. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  if (text === undefined) return `(${typeof value})`;
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…` : text;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `path` and a key: `.name` for an identifier, `["x-key.id"]` for any other key. */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (IDENTIFIER.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !Buffer.isBuffer(v);

/** Scalars by identity, type included; 0 and -0 are one number, NaN is NaN. */
const equalScalars = (expected: unknown, actual: unknown): boolean =>
  expected === actual || Object.is(expected, actual);

/**
 * Where `actual` differs from `expected` (at `path`), as `path: expected X, got Y` lines; none
 * when it matches in the given mode.
 */
export function compareValues(
  expected: unknown,
  actual: unknown,
  path: string,
  mode: CompareMode,
): string[] {
  if (isObject(expected) && isObject(actual)) {
    const found: string[] = [];
    for (const [key, want] of Object.entries(expected)) {
      const at = childPath(path, key);
      if (!Object.hasOwn(actual, key)) found.push(`${at}: expected ${show(want)}, got nothing`);
      else found.push(...compareValues(want, actual[key], at, mode));
    }
    if (mode === 'exact') {
      const extra = Object.keys(actual).filter((key) => !Object.hasOwn(expected, key));
      if (extra.length > 0)
        found.push(
          `${path}: unexpected ${extra.length === 1 ? 'field' : 'fields'} ${extra.map((k) => `${k} = ${show(actual[k])}`).join(', ')} (value: compares the whole value; contains: only the fields it names)`,
        );
    }
    return found;
  }
  if (Array.isArray(expected) && Array.isArray(actual)) {
    if (expected.length !== actual.length)
      return [
        `${path}: expected ${expected.length} ${expected.length === 1 ? 'element' : 'elements'}, got ${actual.length}: ${show(actual)}`,
      ];
    return expected.flatMap((want, i) => compareValues(want, actual[i], childPath(path, i), mode));
  }
  if (isObject(expected) || Array.isArray(expected) || isObject(actual) || Array.isArray(actual))
    return [`${path}: expected ${show(expected)}, got ${show(actual)}`];
  return equalScalars(expected, actual)
    ? []
    : [`${path}: expected ${show(expected)}, got ${show(actual)}`];
}
