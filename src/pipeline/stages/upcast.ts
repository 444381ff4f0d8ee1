import { MembraneError } from '../../core/errors.js';
import { issue, shown, type Issue } from '../../core/issues.js';
import { setOwn } from '../../core/objects.js';
import { pass, quarantine, quarantineAll, type Verdict } from '../../core/verdict.js';
import { activation, compileExpression, type CompiledExpression } from '../cel.js';
import {
  compilePath,
  deletePath,
  formatFieldPath,
  getPath,
  setPath,
  type CompiledPath,
} from '../paths.js';
import type { DecodedRecord } from './decode.js';

/**
 * upcast — brings old upstream shapes to the current one before mapping: for each version
 * N below the current, the declared step leads to N+1. Within a step the operations run in
 * one fixed order, each on the record the previous one left:
 *
 *   rename → default → set → compute → remove
 *
 * so a computed field can read renamed fields and defaults, and the fields it was computed
 * from can be removed afterwards. All expressions of one `compute` read the same record
 * (the one `set` left) and are written together: one computed field never sees another
 * computed in the same step.
 */
export interface UpcastStep {
  readonly rename?: Readonly<Record<string, string>> | undefined;
  readonly default?: Readonly<Record<string, unknown>> | undefined;
  readonly set?: Readonly<Record<string, unknown>> | undefined;
  /** Field path → CEL expression over the record as the step has it (top-level fields, `record`). */
  readonly compute?: Readonly<Record<string, string>> | undefined;
  readonly remove?: readonly string[] | undefined;
}

export interface UpcastConfig {
  readonly field: string;
  readonly current: number;
  readonly steps: Readonly<Record<string, UpcastStep>>;
}

export type UpcastStage = (record: DecodedRecord) => Verdict<DecodedRecord>;

interface CompiledCompute {
  readonly path: CompiledPath;
  /** The field path as written in the mapping, for issues. */
  readonly field: string;
  /** `upcast.steps.<N>.compute.<field>`: where the expression is in the mapping file. */
  readonly rule: string;
  readonly expression: CompiledExpression;
}

interface CompiledStep {
  readonly rename: readonly (readonly [CompiledPath, CompiledPath])[];
  readonly defaults: readonly (readonly [CompiledPath, unknown])[];
  readonly sets: readonly (readonly [CompiledPath, unknown])[];
  readonly computes: readonly CompiledCompute[];
  /** Every variable the step's expressions may read, converted to CEL once per record. */
  readonly names: readonly string[];
  readonly removes: readonly CompiledPath[];
}

/**
 * Why `source` is not a CEL expression — the parser's words, where in the expression, and
 * for a lone `=` the comparison meant — or undefined when it parses.
 */
export function expressionSyntaxError(source: string): string | undefined {
  try {
    compileExpression(source);
    return undefined;
  } catch (error) {
    // cel-js's errors carry the first line of their message as `summary`, and `range`.
    const e = error as { summary?: unknown; message?: unknown; range?: { start?: unknown } };
    const summary =
      typeof e.summary === 'string' ? e.summary : (String(e.message).split('\n')[0] ?? '');
    const start = typeof e.range?.start === 'number' ? e.range.start : undefined;
    const notes: string[] = [];
    if (start !== undefined) {
      const before = source.slice(0, start).split('\n');
      const line = before.length;
      const column = (before[line - 1]?.length ?? 0) + 1;
      notes.push(
        line === 1
          ? `column ${column} of the expression`
          : `line ${line}, column ${column} of the expression`,
      );
      // `amount_cents = 1`, not `a == = b`: a lone `=` right after an operand.
      if (
        source.charAt(start) === '=' &&
        source.charAt(start + 1) !== '=' &&
        /[\w)\]"']\s*$/.test(source.slice(0, start))
      )
        notes.push(`use == to compare: ${source.slice(0, start)}==${source.slice(start + 1)}`);
    }
    return `invalid CEL expression: ${summary}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`;
  }
}

export function createUpcastStage(config: UpcastConfig): UpcastStage {
  const field = compilePath(config.field);
  const steps = new Map<number, CompiledStep>();
  for (const [version, step] of Object.entries(config.steps)) {
    const computes = Object.entries(step.compute ?? {}).map(([path, source]): CompiledCompute => {
      const rule = `upcast.steps.${version}.compute.${path}`;
      let expression: CompiledExpression;
      try {
        expression = compileExpression(source);
      } catch {
        // A mapping file never gets here (its schema parses every expression, with file:line);
        // a caller building the config itself does.
        throw new MembraneError(
          'mapping.invalid',
          `${rule}: ${expressionSyntaxError(source) ?? 'invalid CEL expression'}`,
          { hint: 'fix the expression' },
        );
      }
      return { path: compilePath(path), field: path, rule, expression };
    });
    steps.set(Number(version), {
      rename: Object.entries(step.rename ?? {}).map(
        ([from, to]) => [compilePath(from), compilePath(to)] as const,
      ),
      defaults: Object.entries(step.default ?? {}).map(
        ([path, value]) => [compilePath(path), value] as const,
      ),
      sets: Object.entries(step.set ?? {}).map(
        ([path, value]) => [compilePath(path), value] as const,
      ),
      computes,
      names: [...new Set(computes.flatMap((c) => c.expression.names))],
      removes: (step.remove ?? []).map(compilePath),
    });
  }
  const where = formatFieldPath(field);

  return (record) => {
    const raw = getPath(record, field);
    const version = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (version === config.current) return pass(record);
    if (
      typeof version !== 'number' ||
      !Number.isInteger(version) ||
      version > config.current ||
      version < 1
    ) {
      return quarantine(
        issue(
          'upcast.unknown-version',
          where,
          `version ${shown(raw)} is not one this mapping knows (current: ${config.current})`,
        ),
      );
    }
    const upcasted = structuredClone(record);
    for (let v = version; v < config.current; v++) {
      const step = steps.get(v);
      if (!step) {
        return quarantine(
          issue('upcast.unknown-version', where, `no upcast step from version ${v} to ${v + 1}`),
        );
      }
      for (const [from, to] of step.rename) {
        const value = getPath(upcasted, from);
        if (value !== undefined && deletePath(upcasted, from)) setPath(upcasted, to, value);
      }
      for (const [path, value] of step.defaults) {
        const existing = getPath(upcasted, path);
        if (existing === undefined || existing === null)
          setPath(upcasted, path, structuredClone(value));
      }
      for (const [path, value] of step.sets) setPath(upcasted, path, structuredClone(value));
      if (step.computes.length > 0) {
        const failed = compute(step, v, upcasted);
        if (failed) return quarantineAll(failed);
      }
      for (const path of step.removes) deletePath(upcasted, path);
    }
    setPath(upcasted, field, config.current);
    return pass(upcasted);
  };
}

/**
 * Evaluates a step's expressions against `record` and writes their results into it; the
 * issues instead when any fails (then nothing is written).
 */
function compute(step: CompiledStep, version: number, record: DecodedRecord): Issue[] | undefined {
  // One conversion of the fields the step's expressions name, shared by all of them;
  // `record` only when an expression names it.
  const prepared = activation(step.names, record, { record });
  const results: unknown[] = [];
  let issues: Issue[] | undefined;
  for (const { path, field, rule, expression } of step.computes) {
    let reason: string | undefined;
    try {
      const result = plainValue(expression.run(prepared));
      if (result.ok) results.push(result.value);
      else reason = result.reason;
    } catch (error) {
      const first = (error as Error).message.split('\n')[0] ?? '';
      // A top-level field the expression reads is not in the record (cel-js: "Unknown variable").
      const missing = /^Unknown variable: (\S+)$/.exec(first)?.[1];
      reason = `failed: ${missing === undefined ? first : `the record has no field ${missing}`}`;
    }
    if (reason !== undefined) {
      issues ??= [];
      issues.push(
        issue(
          'upcast.compute-failed',
          formatFieldPath(path),
          `version ${version} → ${version + 1}: ${field} = ${cut(expression.source)} ${reason}${readValues(expression, record)}`,
          rule,
        ),
      );
    }
  }
  if (issues) return issues;
  step.computes.forEach(({ path }, i) => {
    setPath(record, path, results[i]);
  });
  return undefined;
}

/** An expression as an issue message quotes it: its first 64 characters (`rule` says where it is). */
function cut(source: string): string {
  const line = source.replace(/\s+/g, ' ').trim();
  return line.length > 64 ? `${line.slice(0, 63)}…` : line;
}

/** ` (read amount_cents: "abc")`: the record's values of the fields an expression names. */
function readValues(expression: CompiledExpression, record: DecodedRecord): string {
  const read = expression.names
    .filter((name) => Object.hasOwn(record, name))
    .slice(0, 4)
    .map((name) => `${name}: ${shown(record[name])}`);
  return read.length > 0 ? ` (read ${read.join(', ')})` : '';
}

type Converted = { ok: true; value: unknown } | { ok: false; reason: string };

/**
 * A CEL result as a record value (what decode produces): integers become numbers when they
 * are safe (±2^53), maps plain objects, bytes Buffers. A CEL value no record holds (a
 * timestamp, a duration, a type), a NaN or infinite double or an integer beyond ±2^53 is a
 * reason instead: unlike cel.ts's `fromCel`, nothing becomes `{}` or undefined silently.
 * Keys are written as own properties (cel-js itself leaves `__proto__` keys out of maps).
 */
function plainValue(value: unknown): Converted {
  if (value === null || typeof value === 'string' || typeof value === 'boolean')
    return { ok: true, value };
  if (typeof value === 'number')
    return Number.isFinite(value)
      ? { ok: true, value }
      : { ok: false, reason: `gave ${String(value)}, which no record field holds` };
  if (typeof value === 'bigint') return integer(value);
  if (Array.isArray(value)) {
    const list: unknown[] = [];
    for (const item of value as unknown[]) {
      const converted = plainValue(item);
      if (!converted.ok) return converted;
      list.push(converted.value);
    }
    return { ok: true, value: list };
  }
  if (value instanceof Uint8Array)
    return {
      ok: true,
      value: Buffer.isBuffer(value)
        ? Buffer.from(value)
        : Buffer.from(value.buffer, value.byteOffset, value.length),
    };
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype === Object.prototype || prototype === null) {
      const object: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        const converted = plainValue(item);
        if (!converted.ok) return converted;
        setOwn(object, key, converted.value);
      }
      return { ok: true, value: object };
    }
    // CEL `uint` is an object holding a BigInt.
    const primitive = (value as { valueOf(): unknown }).valueOf();
    if (typeof primitive === 'bigint') return integer(primitive);
    const kind = value instanceof Date ? 'timestamp' : value.constructor.name || 'object';
    return {
      ok: false,
      reason: `gave a CEL ${kind.toLowerCase()}, which no record field holds (convert it with string() or int())`,
    };
  }
  return { ok: false, reason: `gave a ${typeof value}, which no record field holds` };
}

function integer(value: bigint): Converted {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
    ? { ok: true, value: Number(value) }
    : { ok: false, reason: `gave the integer ${value}, beyond ±2^53` };
}
