import { issue, shown, type Issue } from '../../core/issues.js';
import { pass, quarantineAll, type Verdict } from '../../core/verdict.js';
import {
  castBoolean,
  castDecimal,
  castDouble,
  castInt,
  castLong,
  castString,
  dateCaster,
  timestampCaster,
  type CastResult,
} from '../casts.js';
import { activation, compileExpression, fromCel, toCel } from '../cel.js';
import { compilePath, formatFieldPath, getPath, type CompiledPath } from '../paths.js';
import { unitConverter } from '../units.js';
import type { DecodedRecord } from './decode.js';

/**
 * map — translates the upstream record into ours, field by field: paths, renames,
 * constants, defaults, strict casts, code tables, date-times with formats and zones, unit
 * conversion, per-element mapping of arrays, and CEL expressions. Every problem is named by
 * the upstream field path and the offending value; all of a record's problems are reported.
 */
export interface FieldConfig {
  readonly from?: string | undefined;
  readonly const?: unknown;
  readonly expr?: string | undefined;
  readonly each?: string | undefined;
  readonly map?: Readonly<Record<string, FieldConfig | string>> | undefined;
  readonly default?: unknown;
  readonly optional?: boolean | undefined;
  readonly as?:
    'string' | 'int' | 'long' | 'double' | 'decimal' | 'boolean' | 'timestamp' | 'date' | undefined;
  readonly scale?: number | undefined;
  readonly format?: string | undefined;
  readonly zone?: string | undefined;
  readonly lookup?: Readonly<Record<string, unknown>> | undefined;
  readonly unit?: { readonly from: string; readonly to: string } | undefined;
}

export type MapStage = (record: DecodedRecord) => Verdict<Record<string, unknown>>;

/** Where a field's problem is reported: the spec path (for compile errors). */
export type SpecProblem = (specPath: readonly (string | number)[], message: string) => void;

/**
 * Reads a field of `input`; `root` is the whole upstream record (for expressions) and
 * `at` the upstream path of `input` (for messages). Pushes issues; returns the value.
 */
type FieldFn = (input: unknown, root: DecodedRecord, at: string, issues: Issue[]) => unknown;

const join = (at: string, path: string): string =>
  at === '' ? path : path.startsWith('[') ? `${at}${path}` : `${at}.${path}`;

function caster(
  field: FieldConfig,
  specPath: readonly (string | number)[],
  problem: SpecProblem,
): ((v: unknown) => CastResult) | undefined {
  switch (field.as) {
    case undefined:
      return undefined;
    case 'string':
      return castString;
    case 'int':
      return castInt;
    case 'long':
      return castLong;
    case 'double':
      return castDouble;
    case 'boolean':
      return castBoolean;
    case 'decimal': {
      const scale = field.scale ?? 0;
      return (v) => castDecimal(v, scale);
    }
    case 'timestamp':
      if (field.zone !== undefined && !isValidZone(field.zone))
        problem([...specPath, 'zone'], `unknown time zone "${field.zone}"`);
      return timestampCaster(field.format, field.zone);
    case 'date':
      return dateCaster(field.format);
  }
}

function isValidZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function compileField(
  name: string,
  spec: FieldConfig | string,
  specPath: readonly (string | number)[],
  problem: SpecProblem,
): FieldFn {
  const field: FieldConfig = typeof spec === 'string' ? { from: spec } : spec;
  const cast = caster(field, specPath, problem);
  let convert: ((v: number) => number) | undefined;
  if (field.unit) {
    try {
      convert = unitConverter(field.unit.from, field.unit.to);
    } catch (error) {
      problem([...specPath, 'unit'], (error as Error).message);
    }
  }
  const lookup = field.lookup;
  const hasDefault = Object.hasOwn(field, 'default') && field.default !== undefined;
  const fallback = field.default;
  const optional = field.optional === true;

  /** lookup → cast → unit, on a present value. */
  const transform = (value: unknown, where: string, issues: Issue[]): unknown => {
    let current = value;
    if (lookup) {
      const code =
        typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean'
          ? String(current)
          : undefined;
      if (code !== undefined && Object.hasOwn(lookup, code)) current = lookup[code];
      else if (hasDefault) current = fallback;
      else {
        issues.push(
          issue(
            'map.unknown-code',
            where,
            `${shown(current)} is not in the code table of ${name} (known: ${Object.keys(lookup).slice(0, 10).join(', ')})`,
          ),
        );
        return undefined;
      }
    }
    if (cast) {
      const result = cast(current);
      if (!result.ok) {
        const code =
          field.as === 'timestamp' || field.as === 'date' ? 'map.invalid-date' : 'map.cast-failed';
        issues.push(
          issue(
            code,
            where,
            `${shown(current)} cannot be read as ${field.as ?? ''} for ${name}: ${result.reason}`,
          ),
        );
        return undefined;
      }
      current = result.value;
    }
    if (convert) {
      if (typeof current !== 'number') {
        issues.push(
          issue(
            'map.invalid-type',
            where,
            `${shown(current)} is not a number, so its unit cannot be converted`,
          ),
        );
        return undefined;
      }
      current = convert(current);
    }
    return current;
  };

  /** A missing (absent or null) value: default, null when optional, or an issue. */
  const whenMissing = (where: string, issues: Issue[]): unknown => {
    if (hasDefault) return transform(fallback, where, issues);
    if (optional) return null;
    issues.push(issue('map.missing-field', where, `required field is missing (for ${name})`));
    return undefined;
  };

  if (field.const !== undefined) {
    const value = field.const;
    return () => value;
  }

  if (field.expr !== undefined) {
    let expression: ReturnType<typeof compileExpression> | undefined;
    try {
      expression = compileExpression(field.expr);
    } catch (error) {
      problem(
        [...specPath, 'expr'],
        `invalid CEL expression: ${(error as Error).message.split('\n')[0] ?? ''}`,
      );
    }
    // `record` (the whole upstream record) is converted to CEL once per record, not once per
    // element of an `each`: that made a 1 MB list of elements quadratic.
    const names = expression?.names.filter((n) => n !== 'record') ?? [];
    const usesRecord = expression?.names.includes('record') ?? false;
    let lastRoot: DecodedRecord | undefined;
    let lastRootCel: unknown;
    return (input, root, at, issues) => {
      if (!expression) return undefined;
      let value: unknown;
      try {
        const prepared = activation(names, input as Record<string, unknown>);
        if (usesRecord) {
          if (root !== lastRoot) {
            lastRootCel = toCel(root);
            lastRoot = root;
          }
          prepared['record'] = lastRootCel;
        }
        value = fromCel(expression.run(prepared));
      } catch (error) {
        issues.push(
          issue(
            'map.expression-failed',
            at,
            `expression for ${name} failed: ${(error as Error).message.split('\n')[0] ?? ''}`,
          ),
        );
        return undefined;
      }
      if (value === undefined) {
        issues.push(
          issue('map.expression-failed', at, `expression for ${name} gave an integer beyond ±2^53`),
        );
        return undefined;
      }
      return value === null ? whenMissing(at, issues) : transform(value, at, issues);
    };
  }

  if (field.each !== undefined) {
    const path = compilePath(field.each);
    const where = formatFieldPath(path);
    const element = compileRecord(field.map ?? {}, [...specPath, 'map'], problem);
    return (input, root, at, issues) => {
      const list = getPath(input, path);
      const listAt = join(at, where);
      if (list === undefined || list === null) return whenMissing(listAt, issues);
      if (!Array.isArray(list)) {
        issues.push(issue('map.invalid-type', listAt, `expected a list, got ${shown(list)}`));
        return undefined;
      }
      return list.map((item: unknown, i) => {
        const itemAt = `${listAt}[${i}]`;
        if (item === null || typeof item !== 'object' || Array.isArray(item)) {
          issues.push(issue('map.invalid-type', itemAt, `expected an object, got ${shown(item)}`));
          return undefined;
        }
        return element(item, root, itemAt, issues);
      });
    };
  }

  const path: CompiledPath = compilePath(field.from ?? name);
  const where = formatFieldPath(path);
  return (input, _root, at, issues) => {
    const value = getPath(input, path);
    const fieldAt = join(at, where);
    if (value === undefined || value === null) return whenMissing(fieldAt, issues);
    return transform(value, fieldAt, issues);
  };
}

type RecordFn = (
  input: unknown,
  root: DecodedRecord,
  at: string,
  issues: Issue[],
) => Record<string, unknown>;

function compileRecord(
  fields: Readonly<Record<string, FieldConfig | string>>,
  specPath: readonly (string | number)[],
  problem: SpecProblem,
): RecordFn {
  const compiled = Object.entries(fields).map(
    ([name, spec]) => [name, compileField(name, spec, [...specPath, name], problem)] as const,
  );
  return (input, root, at, issues) => {
    const out: Record<string, unknown> = {};
    for (const [name, fn] of compiled) out[name] = fn(input, root, at, issues);
    return out;
  };
}

export function createMapStage(
  fields: Readonly<Record<string, FieldConfig | string>>,
  specPath: readonly (string | number)[],
  problem: SpecProblem,
): MapStage {
  const record = compileRecord(fields, specPath, problem);
  return (input) => {
    const issues: Issue[] = [];
    const out = record(input, input, '', issues);
    return issues.length === 0 ? pass(out) : quarantineAll(issues);
  };
}
