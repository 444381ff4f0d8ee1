import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import avro from 'avsc';
import { closest } from 'fastest-levenshtein';
import {
  isMap,
  isPair,
  isScalar,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import { z } from 'zod';
import { MembraneError } from '../core/errors.js';
import { mappingSpec, type MappingSpec } from './spec.js';
import { PROTOTYPE_KEYS, setOwn } from '../core/objects.js';
import { DYN, fromAvro, fromJsonSchema } from './check/cel-types.js';
import { checkMeaning, type SourceShape } from './check/meaning.js';
import { explainYamlError, firstYamlErrors } from './check/yaml-errors.js';

export type SpecPath = readonly (string | number)[];

/** One thing wrong with a mapping file, where it is, and what to do. */
export interface MappingProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** `events[0].map.totalCents.as` */
  readonly path: string;
  readonly message: string;
  readonly hint?: string;
}

export function formatPath(path: SpecPath): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}

export function formatProblem(p: MappingProblem): string {
  const where = p.path === '' ? '' : `${p.path}: `;
  return `${p.file}:${p.line}:${p.column}: ${where}${p.message}${p.hint ? ` (${p.hint})` : ''}`;
}

/** Problems in the order of the file: by line, then column (stable otherwise). */
export function byPosition(problems: readonly MappingProblem[]): MappingProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map(({ p }) => p);
}

/** Every problem of one or more mapping files, reported together. */
export class MappingError extends MembraneError {
  override readonly name = 'MappingError';
  readonly problems: readonly MappingProblem[];

  constructor(problems: readonly MappingProblem[]) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(
      'mapping.invalid',
      `${count} in mapping files:\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`,
      {
        hint: 'fix the mapping files at the positions given',
      },
    );
    this.problems = problems;
  }
}

/** A parsed, interpolated and validated mapping, with the positions of its nodes. */
export interface LoadedMapping {
  readonly file: string;
  readonly spec: MappingSpec;
  /**
   * What the checks of meaning found (CEL types, date formats, zones, units) in a mapping of
   * the right shape: compileMapping reports them together with its own, so one run names
   * every problem. (A mapping of the wrong shape throws them at once with the shape's.)
   */
  readonly problems?: readonly MappingProblem[];
  /** Line and column (1-based) of the node at `path`, or of its nearest existing parent. */
  locate(path: SpecPath): { line: number; column: number };
  /** A problem at `path`, positioned. */
  problem(path: SpecPath, message: string, hint?: string): MappingProblem;
}

/** A `${env:NAME}` reference in a mapping's text (global: use with matchAll/replace). */
export const ENV_REF = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

interface Located {
  readonly doc: Document;
  readonly lines: LineCounter;
  readonly file: string;
  readonly text: string;
}

/**
 * Where characters `start`–`end` of the string value at `path` are in the file: the value's
 * own text (plain, quoted or block) is searched for that piece, counting earlier occurrences,
 * so a column points at the offending token itself. The value's start when it cannot be told.
 */
function positionWithin(
  where: Located,
  path: SpecPath,
  start: number,
  end: number,
  value: string,
): { line: number; column: number } {
  const node = nodeAt(where.doc, path);
  const range = node?.range;
  const piece = value.slice(start, end);
  if (range && piece !== '') {
    let before = 0;
    for (let i = value.indexOf(piece); i !== -1 && i < start; i = value.indexOf(piece, i + 1))
      before += 1;
    const raw = where.text.slice(range[0], range[1]);
    let found = raw.indexOf(piece);
    for (let n = 0; n < before && found !== -1; n++) found = raw.indexOf(piece, found + 1);
    if (found !== -1) {
      const { line, col } = where.lines.linePos(range[0] + found);
      return { line, column: col };
    }
  }
  return positionOf(where, path);
}

function nodeAt(doc: Document, path: SpecPath): Node | undefined {
  const node = doc.getIn(path, true);
  return node !== null && typeof node === 'object' && 'range' in node ? (node as Node) : undefined;
}

function positionOf(
  where: Located,
  path: SpecPath,
  keyOf = false,
): { line: number; column: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const prefix = path.slice(0, depth);
    if (keyOf && depth === path.length && depth > 0) {
      // The key itself (for unknown keys), not its value.
      const parent = nodeAt(where.doc, path.slice(0, -1));
      if (parent && isMap(parent)) {
        const pair = parent.items.find(
          (item) => isPair(item) && isScalar(item.key) && item.key.value === path[depth - 1],
        );
        const range = pair && isScalar(pair.key) ? pair.key.range : undefined;
        if (range) {
          const { line, col } = where.lines.linePos(range[0]);
          return { line, column: col };
        }
      }
    }
    const node = depth === 0 ? where.doc.contents : nodeAt(where.doc, prefix);
    const range = node?.range;
    if (range) {
      const { line, col } = where.lines.linePos(range[0]);
      return { line, column: col };
    }
  }
  return { line: 1, column: 1 };
}

/** Where the document uses `__proto__`, `constructor` or `prototype` as a key. */
function prototypeKeys(value: unknown, path: SpecPath, found: SpecPath[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      prototypeKeys(item, [...path, i], found);
    });
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (PROTOTYPE_KEYS.has(key)) found.push([...path, key]);
      prototypeKeys(item, [...path, key], found);
    }
  }
}

/** Replaces `${env:NAME}` in every string; a missing variable is a problem naming it. */
function interpolate(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: (string | number)[],
  missing: { path: SpecPath; name: string }[],
): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${env:')) return value;
    return value.replace(ENV_REF, (_match, variable: string) => {
      const resolved = env[variable];
      if (resolved === undefined) {
        missing.push({ path: [...path], name: variable });
        return '';
      }
      return resolved;
    });
  }
  if (Array.isArray(value))
    return value.map((item, i) => interpolate(item, env, [...path, i], missing));
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value))
      setOwn(result, key, interpolate(item, env, [...path, key], missing));
    return result;
  }
  return value;
}

type AnySchema = z.core.$ZodType;

/** The keys an object schema at `path` accepts, for "did you mean" hints. */
function knownKeysAt(schema: AnySchema, path: SpecPath): string[] {
  let current: AnySchema | undefined = schema;
  const unwrap = (s: AnySchema | undefined): AnySchema | undefined => {
    let node = s;
    for (let i = 0; i < 20 && node; i++) {
      const def = node._zod.def as unknown as Record<string, unknown> & { type: string };
      if (
        def.type === 'optional' ||
        def.type === 'default' ||
        def.type === 'nullable' ||
        def.type === 'readonly'
      ) {
        node = def['innerType'] as AnySchema;
      } else if (def.type === 'pipe') {
        node = def['in'] as AnySchema;
      } else if (def.type === 'lazy') {
        node = (def['getter'] as () => AnySchema)();
      } else if (def.type === 'union') {
        const options = def['options'] as AnySchema[];
        node = options.find((o) => (unwrap(o)?._zod.def.type ?? '') === 'object') ?? options[0];
        if (node && node._zod.def.type !== 'union') continue;
        return node;
      } else {
        return node;
      }
    }
    return node;
  };
  for (const part of path) {
    current = unwrap(current);
    if (!current) return [];
    const def = current._zod.def as unknown as Record<string, unknown> & { type: string };
    if (def.type === 'object') current = (def['shape'] as Record<string, AnySchema>)[String(part)];
    else if (def.type === 'array') current = def['element'] as AnySchema;
    else if (def.type === 'record') current = def['valueType'] as AnySchema;
    else return [];
  }
  current = unwrap(current);
  if (current?._zod.def.type !== 'object') return [];
  return Object.keys((current._zod.def as unknown as { shape: Record<string, unknown> }).shape);
}

/** Flattens zod issues; of a union's branches, keeps the one that fits the value's kind. */
function flatten(
  issues: readonly z.core.$ZodIssue[],
  base: SpecPath = [],
): { path: SpecPath; issue: z.core.$ZodIssue; key?: true }[] {
  const out: { path: SpecPath; issue: z.core.$ZodIssue; key?: true }[] = [];
  for (const issue of issues) {
    const path = [...base, ...(issue.path as (string | number)[])];
    if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      // A key of a record (an output field name, a path in `rename`…): its own words, at the key.
      for (const inner of issue.issues) out.push({ path, issue: inner, key: true });
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      const branches = issue.errors.map((branch) => flatten(branch, path));
      const fitting = branches.filter(
        (branch) =>
          !branch.some((b) => b.issue.code === 'invalid_type' && b.path.length === path.length),
      );
      const chosen = fitting[0] ?? branches[branches.length - 1] ?? [];
      out.push(...(chosen.length > 0 ? chosen : [{ path, issue }]));
    } else {
      out.push({ path, issue });
    }
  }
  return out;
}

function hintFor(issue: z.core.$ZodIssue, path: SpecPath, value: unknown): string | undefined {
  if (issue.code === 'invalid_value' && typeof value === 'string' && issue.values.length > 0) {
    const candidates = issue.values.map(String);
    return `did you mean "${closest(value, candidates)}"?`;
  }
  // YAML reads `key: 4712` and `flag: true` as a number and a boolean: text must be quoted.
  if (
    issue.code === 'invalid_type' &&
    issue.expected === 'string' &&
    (typeof value === 'number' || typeof value === 'boolean')
  ) {
    const key = path[path.length - 1];
    const quoted = `'${String(value)}'`;
    return `YAML reads ${String(value)} as a ${typeof value}: quote it to make it text, ${typeof key === 'string' ? `${key}: ${quoted}` : quoted}`;
  }
  return undefined;
}

function valueAt(root: unknown, path: SpecPath): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[part];
  }
  return current;
}

/** A problem at characters `start`–`end` of the text `value` at `path`, positioned in the file. */
export type Within = (
  path: SpecPath,
  start: number,
  end: number,
  value: string,
  message: string,
  hint?: string,
) => MappingProblem;

/** A YAML document validated against a zod schema, with the positions of its nodes. */
export interface LoadedYaml<T> {
  readonly file: string;
  readonly value: T;
  /** What the `meaning` checks found in a document of the right shape (not thrown). */
  readonly problems: readonly MappingProblem[];
  locate(path: SpecPath): { line: number; column: number };
  problem(path: SpecPath, message: string, hint?: string): MappingProblem;
}

/**
 * YAML text → (optionally) `${env:NAME}`-interpolated → validated by `schema`. Collects every
 * problem (YAML syntax, missing environment variables, schema violations) and throws them
 * together as one MappingError.
 */
export function loadYaml<S extends z.core.$ZodType>(
  text: string,
  file: string,
  schema: S,
  env: NodeJS.ProcessEnv | undefined,
  /** Further checks of the (interpolated) document, run whether or not it has the right shape. */
  meaning?: (value: unknown, within: Within) => MappingProblem[],
): LoadedYaml<z.output<S>> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const where: Located = { doc, lines, file, text };
  const problem = (
    path: SpecPath,
    message: string,
    hint?: string,
    keyOf = false,
  ): MappingProblem => {
    const { line, column } = positionOf(where, path, keyOf);
    return hint === undefined
      ? { file, line, column, path: formatPath(path), message }
      : { file, line, column, path: formatPath(path), message, hint };
  };

  if (doc.errors.length > 0) {
    throw new MappingError(
      firstYamlErrors(doc.errors, (error) => lines.linePos(error.pos[0]).line).map((error) => {
        const pos = lines.linePos(error.pos[0]);
        const { message, hint } = explainYamlError(error);
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '',
          message,
          ...(hint === undefined ? {} : { hint }),
        };
      }),
    );
  }

  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  const missing: { path: SpecPath; name: string }[] = [];
  const interpolated = env === undefined ? raw : interpolate(raw, env, [], missing);
  const problems: MappingProblem[] = missing.map(({ path, name }) =>
    problem(
      path,
      `environment variable ${name} is not set`,
      `set ${name}, or change the \${env:${name}} reference`,
    ),
  );
  const reserved: SpecPath[] = [];
  prototypeKeys(raw, [], reserved);
  for (const path of reserved)
    problems.push(
      problem(
        path,
        `the key \`${String(path[path.length - 1])}\` is reserved (${[...PROTOTYPE_KEYS].join(', ')} cannot be keys or field names)`,
        undefined,
        true,
      ),
    );

  const result = z.safeParse(schema, interpolated);
  if (!result.success) {
    for (const { path, issue, key } of flatten(result.error.issues)) {
      if (key) {
        problems.push(problem(path, `key ${issue.message}`, undefined, true));
        continue;
      }
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeysAt(schema, path);
        for (const key of issue.keys) {
          const suggestion = known.length > 0 ? closest(key, known) : undefined;
          problems.push(
            problem(
              [...path, key],
              `unknown key "${key}"`,
              suggestion
                ? `did you mean "${suggestion}"? valid keys: ${known.join(', ')}`
                : undefined,
              true,
            ),
          );
        }
        continue;
      }
      // A missing variable was reported already; its empty stand-in fails again here.
      if (missing.some((m) => formatPath(m.path) === formatPath(path))) continue;
      const value = valueAt(interpolated, path);
      const isMissing = value === undefined && issue.code === 'invalid_type';
      problems.push(
        problem(path, isMissing ? 'is required' : issue.message, hintFor(issue, path, value)),
      );
    }
  }
  let meant: MappingProblem[] = [];
  if (meaning) {
    const within: Within = (path, start, end, value, message, hint) => {
      const { line, column } = positionWithin(where, path, start, end, value);
      return hint === undefined
        ? { file, line, column, path: formatPath(path), message }
        : { file, line, column, path: formatPath(path), message, hint };
    };
    meant = meaning(interpolated, within);
  }
  if (problems.length > 0 || !result.success)
    throw new MappingError(byPosition([...problems, ...meant]));

  return {
    file,
    value: result.data,
    problems: meant,
    locate: (path) => positionOf(where, path),
    problem: (path, message, hint) => problem(path, message, hint),
  };
}

export function loadMappingText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedMapping {
  const loaded = loadYaml(text, file, mappingSpec, env, (value, within) =>
    meaningProblems(value, file, within),
  );
  return {
    file,
    spec: loaded.value,
    problems: loaded.problems,
    locate: (path) => loaded.locate(path),
    problem: (path, message, hint) => loaded.problem(path, message, hint),
  };
}

/**
 * The checks of what the mapping means (CEL types, date formats, zones), against the record
 * `source.schema` describes when it names one: an Avro schema, or for `format: json` a JSON
 * Schema. Read synchronously: this runs once, when a mapping is loaded.
 */
function meaningProblems(value: unknown, file: string, within: Within): MappingProblem[] {
  const problems: MappingProblem[] = [];
  const source = sourceShape(value, file, problems, within);
  for (const p of checkMeaning(value, source)) {
    problems.push(
      p.within
        ? within(p.path, p.within.start, p.within.end, p.within.text, p.message, p.hint)
        : within(p.path, 0, 0, '', p.message, p.hint),
    );
  }
  return problems;
}

/**
 * The upstream record's shape from `source.schema`; undefined without one. A file that cannot
 * be used is a problem, and the record's shape is then unknown (any field name goes).
 */
function sourceShape(
  value: unknown,
  file: string,
  problems: MappingProblem[],
  within: Within,
): SourceShape | undefined {
  const source =
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>)['source'] : {};
  const schema =
    source !== null && typeof source === 'object'
      ? (source as Record<string, unknown>)['schema']
      : undefined;
  if (typeof schema !== 'string' || schema === '') return undefined;
  const format = (source as Record<string, unknown>)['format'];
  const full = resolve(dirname(file), schema);
  try {
    const parsed: unknown = JSON.parse(readFileSync(full, 'utf8'));
    const isJsonSchema =
      format === 'json' &&
      parsed !== null &&
      typeof parsed === 'object' &&
      !Array.isArray(parsed) &&
      (parsed as Record<string, unknown>)['type'] !== 'record' &&
      ['$schema', 'properties', 'type', '$ref'].some((key) => Object.hasOwn(parsed, key));
    return isJsonSchema
      ? { type: fromJsonSchema(parsed), from: `JSON Schema ${schema}` }
      : { type: fromAvro(avro.Type.forSchema(parsed as avro.Schema)), from: `schema ${schema}` };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0] ?? 'invalid schema';
    problems.push(
      within(
        ['source', 'schema'],
        0,
        0,
        '',
        (error as NodeJS.ErrnoException).code === 'ENOENT' ||
          (error as NodeJS.ErrnoException).code === 'EISDIR'
          ? `cannot read schema file ${full}: ${reason}`
          : `schema file ${full} is not ${format === 'json' ? 'a JSON Schema or an Avro schema' : 'an Avro schema'}: ${reason}`,
        'paths are relative to the mapping file',
      ),
    );
    return { type: DYN, from: schema };
  }
}

export async function readText(file: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new MembraneError(
      'mapping.unreadable',
      `Cannot read ${what} ${file}: ${(error as Error).message}.`,
      {
        cause: error,
        hint: 'check the path',
      },
    );
  }
}

export async function loadMappingFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedMapping> {
  return loadMappingText(await readText(file, 'mapping file'), file, env);
}
