import { Environment, parse, type ASTNode, type TypeCheckResult } from '@marcbachmann/cel-js';
import { withMixedNumbers } from '../../pipeline/cel.js';
import type { Type } from 'avsc';
import { closest, distance } from 'fastest-levenshtein';
import { patternProblem } from './regex.js';

/**
 * What a CEL expression in a mapping can see, as types, and the check of an expression against
 * it. The checking is @marcbachmann/cel-js's own type checker (`Environment.check`, the same
 * library that evaluates the expressions at run time): this file only declares the variables
 * (from an Avro schema, a JSON Schema, or the fields a mapping reads and produces) and turns
 * the checker's findings into an author's words. Startup and `validate` only; nothing here
 * runs per record.
 */
export type CelType =
  | {
      readonly kind: 'scalar';
      readonly name: 'int' | 'double' | 'string' | 'bool' | 'bytes' | 'dyn';
    }
  | { readonly kind: 'list'; readonly of: CelType }
  | { readonly kind: 'map'; readonly of: CelType }
  /** A value that may be null: dyn to the checker (so `x == null` holds), `of` for paths. */
  | { readonly kind: 'nullable'; readonly of: CelType }
  | {
      readonly kind: 'object';
      /** How the author knows it: the Avro record name, `the translated record`… */
      readonly name: string;
      readonly fields: Map<string, CelType>;
    };

const scalar = (name: 'int' | 'double' | 'string' | 'bool' | 'bytes' | 'dyn'): CelType => ({
  kind: 'scalar',
  name,
});
export const DYN = scalar('dyn');
export const STRING = scalar('string');
export const INT = scalar('int');
export const DOUBLE = scalar('double');
export const BOOL = scalar('bool');
export const BYTES = scalar('bytes');
export const listOf = (of: CelType): CelType => ({ kind: 'list', of });
export const mapOf = (of: CelType): CelType => ({ kind: 'map', of });
export const nullable = (of: CelType): CelType =>
  of.kind === 'nullable' || (of.kind === 'scalar' && of.name === 'dyn')
    ? of
    : { kind: 'nullable', of };
export const objectOf = (name: string, fields: Map<string, CelType>): CelType => ({
  kind: 'object',
  name,
  fields,
});

/**
 * An Avro type as the decoded value looks in CEL: int/long → int (logical types are read as
 * their underlying type), float/double → double, enum → string, bytes/fixed → bytes, a union
 * with null → dyn (a nullable value may be compared with null), other unions → dyn.
 */
export function fromAvro(type: Type, seen = new Map<Type, CelType>()): CelType {
  const known = seen.get(type);
  if (known) return known;
  const t = type as unknown as {
    typeName: string;
    name?: string;
    fields?: { name: string; type: Type }[];
    itemsType?: Type;
    valuesType?: Type;
    types?: Type[];
    underlyingType?: Type;
  };
  switch (t.typeName) {
    case 'int':
    case 'long':
      return INT;
    case 'float':
    case 'double':
      return DOUBLE;
    case 'string':
    case 'enum':
      return STRING;
    case 'boolean':
      return BOOL;
    case 'bytes':
    case 'fixed':
      return BYTES;
    case 'array':
      return t.itemsType ? listOf(fromAvro(t.itemsType, seen)) : listOf(DYN);
    case 'map':
      return t.valuesType ? mapOf(fromAvro(t.valuesType, seen)) : mapOf(DYN);
    case 'record':
    case 'error': {
      const fields = new Map<string, CelType>();
      const result = objectOf(t.name ?? 'record', fields);
      seen.set(type, result);
      for (const field of t.fields ?? []) fields.set(field.name, fromAvro(field.type, seen));
      return result;
    }
    default: {
      if (t.typeName.startsWith('logical:') && t.underlyingType)
        return fromAvro(t.underlyingType, seen);
      const branches = (t.types ?? []).filter(
        (b) => (b as unknown as { typeName: string }).typeName !== 'null',
      );
      const [only] = branches;
      if (only && branches.length === 1 && branches.length < (t.types ?? []).length)
        return nullable(fromAvro(only, seen));
      return DYN;
    }
  }
}

type JsonSchema = Record<string, unknown>;
const isObject = (v: unknown): v is JsonSchema =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A JSON Schema (draft 4 to 2020-12, the parts that describe data) as CEL types: integer →
 * int, number → double, an object with `properties` → its fields (closed unless
 * `additionalProperties` allows more), `type: [x, "null"]` → dyn, local `$ref`s followed;
 * anything it cannot say (`anyOf`, `oneOf`, `if`…) → dyn.
 */
export function fromJsonSchema(root: unknown): CelType {
  const resolving = new Map<JsonSchema, CelType>();
  const resolveRef = (ref: string): unknown => {
    if (!ref.startsWith('#/')) return undefined;
    let current: unknown = root;
    for (const part of ref.slice(2).split('/')) {
      const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
      current = isObject(current) && Object.hasOwn(current, key) ? current[key] : undefined;
    }
    return current;
  };
  const convert = (schema: unknown, name: string, depth: number): CelType => {
    if (!isObject(schema) || depth > 64) return DYN;
    const cached = resolving.get(schema);
    if (cached) return cached;
    if (typeof schema['$ref'] === 'string')
      return convert(
        resolveRef(schema['$ref']),
        schema['$ref'].split('/').pop() ?? name,
        depth + 1,
      );
    if (Array.isArray(schema['allOf']) && schema['allOf'].length === 1)
      return convert(schema['allOf'][0], name, depth + 1);
    const declared = schema['type'];
    if (Array.isArray(declared)) {
      const others = (declared as unknown[]).filter((t) => t !== 'null');
      if (others.length !== 1) return DYN;
      const inner = convert({ ...schema, type: others[0] }, name, depth + 1);
      return others.length < declared.length ? nullable(inner) : inner;
    }
    const kind = typeof declared === 'string' ? declared : undefined;
    if (kind === 'object' || (kind === undefined && isObject(schema['properties']))) {
      const properties = isObject(schema['properties']) ? schema['properties'] : undefined;
      const extra = schema['additionalProperties'];
      if (!properties || (extra !== undefined && extra !== false)) {
        return mapOf(isObject(extra) ? convert(extra, name, depth + 1) : DYN);
      }
      const fields = new Map<string, CelType>();
      const title = typeof schema['title'] === 'string' ? schema['title'] : name;
      const result = objectOf(title, fields);
      resolving.set(schema, result);
      for (const [field, sub] of Object.entries(properties))
        fields.set(field, convert(sub, `${title}.${field}`, depth + 1));
      return result;
    }
    switch (kind) {
      case 'array':
        return listOf(convert(schema['items'], `${name}[]`, depth + 1));
      case 'string':
        return STRING;
      case 'integer':
        return INT;
      case 'number':
        return DOUBLE;
      case 'boolean':
        return BOOL;
      default:
        return DYN;
    }
  };
  return convert(
    root,
    isObject(root) && typeof root['title'] === 'string' ? root['title'] : 'record',
    0,
  );
}

/** The CEL type of a JSON value written in a mapping (`const`, a `lookup` value, a `default`). */
export function typeOfJson(value: unknown): CelType {
  if (typeof value === 'string') return STRING;
  if (typeof value === 'boolean') return BOOL;
  if (typeof value === 'number') return Number.isInteger(value) ? INT : DOUBLE;
  if (Array.isArray(value)) return listOf(commonType(value.map(typeOfJson)));
  if (isObject(value)) return mapOf(commonType(Object.values(value).map(typeOfJson)));
  return DYN;
}

/** The one type all of `types` have, or dyn. */
export function commonType(types: readonly CelType[]): CelType {
  const [first, ...rest] = types;
  if (!first) return DYN;
  return rest.every((t) => sameType(t, first)) ? first : DYN;
}

function sameType(a: CelType, b: CelType): boolean {
  if (a.kind === 'scalar' && b.kind === 'scalar') return a.name === b.name;
  if (
    (a.kind === 'list' && b.kind === 'list') ||
    (a.kind === 'map' && b.kind === 'map') ||
    (a.kind === 'nullable' && b.kind === 'nullable')
  )
    return sameType(a.of, b.of);
  return a === b;
}

/** The type of `path` (`customer.address.city`, `lines[0].sku`) in `type`; dyn when unknown. */
export function typeAtPath(type: CelType, path: string): CelType | undefined {
  let current: CelType = type;
  for (const segment of path.split('.')) {
    const match = /^([^[]+)((?:\[\d+\])*)$/.exec(segment);
    if (!match?.[1]) return DYN;
    if (current.kind === 'nullable') current = current.of;
    if (current.kind === 'scalar') return DYN;
    if (current.kind === 'object') {
      const next = current.fields.get(match[1]);
      if (!next) return undefined;
      current = next;
    } else if (current.kind === 'map') current = current.of;
    else return DYN;
    for (let i = 0; i < (match[2]?.match(/\[/g)?.length ?? 0); i++) {
      if (current.kind === 'nullable') current = current.of;
      if (current.kind === 'list') current = current.of;
      else return DYN;
    }
  }
  return current;
}

export function describeType(type: CelType): string {
  switch (type.kind) {
    case 'scalar':
      return type.name;
    case 'list':
      return `list<${describeType(type.of)}>`;
    case 'map':
      return `map<string, ${describeType(type.of)}>`;
    case 'nullable':
      return `${describeType(type.of)} or null`;
    case 'object':
      return type.name;
  }
}

/** What an expression sees: variables with types, and what to call them in messages. */
export interface Scope {
  /** The record whose fields are the variables, e.g. `the upstream record`. */
  readonly what: string;
  /** The fields of that record, each a variable. */
  readonly fields: ReadonlyMap<string, CelType>;
  /** Further variables (`record`, `topic`, `headers`); these win over a field of the name. */
  readonly extras: ReadonlyMap<string, CelType>;
  /** Whether any other name is an error; false: it is dyn (what the record holds is unknown). */
  readonly closed: boolean;
  /** Said after an unknown name, e.g. how to read a field the mapping does not know. */
  readonly otherwise?: (name: string) => string | undefined;
}

/** A problem in an expression, at `start`–`end` of its text. */
export interface CelProblem {
  readonly start: number;
  readonly end: number;
  readonly message: string;
  readonly hint?: string;
}

export interface CelCheck {
  readonly problems: readonly CelProblem[];
  /** The result type, when the expression checks. */
  readonly type?: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = new Set(['true', 'false', 'null', 'in', 'as', 'type', 'int', 'uint', 'double']);

/** Registers the object types reachable from `types` and returns each type's CEL name. */
function declareTypes(env: Environment, roots: Iterable<CelType>): (type: CelType) => string {
  const names = new Map<CelType, string>();
  const used = new Set<string>();
  const nameOf = (type: CelType): string => {
    switch (type.kind) {
      case 'scalar':
        return type.name;
      case 'list':
        return `list<${nameOf(type.of)}>`;
      case 'map':
        return `map<string, ${nameOf(type.of)}>`;
      case 'nullable':
        nameOf(type.of);
        return 'dyn';
      case 'object': {
        const known = names.get(type);
        if (known) return known;
        const base = type.name.replace(/[^A-Za-z0-9_.]/g, '_').replace(/^[^A-Za-z_]/, 'T$&');
        let name = base;
        for (let i = 2; used.has(name); i++) name = `${base}_${i}`;
        used.add(name);
        names.set(type, name);
        const fields: Record<string, string> = {};
        for (const [field, fieldType] of type.fields) fields[field] = nameOf(fieldType);
        env.registerType({ name, fields });
        return name;
      }
    }
  };
  for (const root of roots) nameOf(root);
  return nameOf;
}

/**
 * The checking environment; names found unknown so far are declared (as a string where the
 * name stands for text — `== U`, `[A, B]` — else dyn), so the next check finds the next one.
 */
function environment(
  scope: Scope,
  unknown: ReadonlySet<string>,
  text: ReadonlySet<string> = new Set(),
): Environment {
  const env = withMixedNumbers(new Environment({ unlistedVariablesAreDyn: !scope.closed }));
  const nameOf = declareTypes(env, [...scope.fields.values(), ...scope.extras.values()]);
  const declare = (name: string, type: CelType): void => {
    if (!IDENTIFIER.test(name) || KEYWORDS.has(name) || env.hasVariable(name)) return;
    try {
      env.registerVariable(name, nameOf(type));
    } catch {
      // A name the library reserves cannot be a variable anyway.
    }
  };
  for (const [name, type] of scope.extras) declare(name, type);
  for (const [name, type] of scope.fields) declare(name, type);
  for (const name of unknown) declare(name, text.has(name) ? STRING : DYN);
  return env;
}

/** Every node of an AST with its parent. */
function* walk(node: ASTNode, parent?: ASTNode): Generator<{ node: ASTNode; parent?: ASTNode }> {
  yield parent ? { node, parent } : { node };
  const args: unknown = node.args;
  const children = (value: unknown): ASTNode[] => {
    if (Array.isArray(value)) return value.flatMap(children);
    if (value !== null && typeof value === 'object' && 'op' in value && 'args' in value)
      return [value as ASTNode];
    return [];
  };
  if (node.op === 'value' || node.op === 'id') return;
  for (const child of children(args)) yield* walk(child, node);
}

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);

/** Whether the unknown name at `node` is text meant as a string (`REC_TYPE == U`). */
function isBareWord(
  node: ASTNode,
  parent: ASTNode | undefined,
  unknown: ReadonlySet<string>,
): boolean {
  if (!parent) return false;
  const isUnknownId = (n: ASTNode): boolean => n.op === 'id' && unknown.has(n.args);
  if (COMPARISONS.has(parent.op)) {
    const [left, right] = parent.args as [ASTNode, ASTNode];
    if (right === node) return left.op !== 'value';
    return right.op !== 'value' && !isUnknownId(right);
  }
  // An element of a list literal: `status in [N, P]`.
  return parent.op === 'list';
}

const QUOTE = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/** `emial` → ` did you mean email?`, when a name is that close. */
function nearest(name: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(name, [...candidates]);
  const d = distance(name.toLowerCase(), best.toLowerCase());
  return d <= (name.length <= 3 ? 1 : Math.max(2, Math.floor(name.length / 3))) ? best : undefined;
}

function listed(names: Iterable<string>): string {
  const all = [...names];
  return all.length > 12 ? `${all.slice(0, 12).join(', ')}, …` : all.join(', ');
}

/**
 * Checks one expression against `scope`: its syntax, every name it reads (all unknown names,
 * not only the first), the fields it selects and the types its operators get. `condition`:
 * the result must be a bool.
 */
export function checkExpression(source: string, scope: Scope, condition: boolean): CelCheck {
  let ast: ASTNode;
  try {
    ast = parse(source).ast;
  } catch (error) {
    return { problems: [syntaxProblem(source, error)] };
  }
  const nodes = [...walk(ast)];
  const unknown = new Set<string>();
  const text = new Set<string>();
  const unknownAt: { name: string; start: number; end: number }[] = [];
  let result: TypeCheckResult | undefined;
  for (let round = 0; round < 50; round++) {
    result = environment(scope, unknown, text).check(source);
    const error = result.error as
      { code?: string; summary?: string; range?: { start: number; end: number } } | undefined;
    if (result.valid || error?.code !== 'unknown_variable' || !error.range) break;
    const { start, end } = error.range;
    const name = source.slice(start, end);
    if (unknown.has(name)) break;
    unknown.add(name);
    const at = nodes.find((n) => n.node.op === 'id' && n.node.start === start);
    const parent = at?.parent;
    if (
      parent?.op === 'list' ||
      (parent && COMPARISONS.has(parent.op) && (parent.args as ASTNode[])[1] === at.node)
    )
      text.add(name);
    unknownAt.push({ name, start, end });
  }
  const problems: CelProblem[] = [];
  const bare: { start: number; end: number }[] = [];
  const fieldNames = [...scope.fields.keys()];
  for (const { name, start, end } of unknownAt) {
    const at = nodes.find((n) => n.node.op === 'id' && n.node.start === start);
    if (at && isBareWord(at.node, at.parent, unknown)) {
      const quoted = `${source.slice(0, start)}${QUOTE(name)}${source.slice(end)}`;
      bare.push({ start, end });
      problems.push({
        start,
        end,
        message: `${name} is not a field; did you mean the string ${QUOTE(name)}?`,
        hint: `text in CEL is quoted: ${quoted}`,
      });
      continue;
    }
    const near = nearest(name, fieldNames);
    const fields = fieldNames.length > 0 ? `its fields: ${listed(fieldNames)}` : undefined;
    const hint = near
      ? `did you mean ${near}?`
      : [fields, scope.otherwise?.(name)].filter((h) => h !== undefined && h !== '').join('; ');
    problems.push({
      start,
      end,
      message: `${name} is not a field of ${scope.what}`,
      ...(hint ? { hint } : {}),
    });
  }
  const error = result?.error as
    | { code?: string; summary?: string; range?: { start: number; end: number }; node?: ASTNode }
    | undefined;
  const range = error?.range;
  // A type error around a bare word is that word's (declared as text to go on): said already.
  const fromBareWord =
    range !== undefined && bare.some((b) => b.start >= range.start && b.end <= range.end);
  if (result && !result.valid && error && error.code !== 'unknown_variable') {
    if (!fromBareWord) problems.push(typeProblem(source, error, scope, unknown));
  } else if (result?.valid && condition && result.type !== 'bool' && result.type !== 'dyn') {
    problems.push({
      start: 0,
      end: source.length,
      message: `gives ${result.type ?? 'a value'}, not true or false`,
      hint: 'a condition or rule must be a comparison or another boolean expression, e.g. x == "A"',
    });
  }
  problems.push(...patternProblems(source, nodes));
  return result?.valid && result.type !== undefined && unknownAt.length === 0
    ? { problems, type: result.type }
    : { problems };
}

/**
 * The problems of `matches()` patterns: each must be a string literal (a pattern read from
 * the record lets its producer choose one that backtracks for minutes), and one the linear
 * engine can run (see regex.ts). Both forms: `s.matches(p)` and `matches(s, p)`.
 */
function patternProblems(source: string, nodes: readonly { node: ASTNode }[]): CelProblem[] {
  const problems: CelProblem[] = [];
  for (const { node } of nodes) {
    const args = node.args as unknown[];
    let pattern: ASTNode | undefined;
    if (node.op === 'rcall' && args[0] === 'matches') pattern = (args[2] as ASTNode[])[0];
    else if (node.op === 'call' && args[0] === 'matches') pattern = (args[1] as ASTNode[])[1];
    if (pattern === undefined) continue;
    const { start, end } = pattern;
    if (pattern.op !== 'value') {
      const text = source.slice(start, end);
      problems.push({
        start,
        end,
        message: `the pattern of matches() must be a string literal, not ${text}: a pattern taken from the record lets its producer choose a regular expression that backtracks for minutes`,
        hint: "write the regular expression in the mapping, e.g. matches('^[A-Z0-9-]+$'); to compare with a field, use ==, contains(), startsWith() or endsWith()",
      });
    } else if (typeof pattern.args === 'string') {
      const problem = patternProblem(pattern.args);
      if (problem) problems.push({ start, end, ...problem });
    }
  }
  return problems;
}

function syntaxProblem(source: string, error: unknown): CelProblem {
  const e = error as { summary?: string; message?: string; range?: { start: number; end: number } };
  const summary = e.summary ?? (e.message ?? '').split('\n')[0] ?? '';
  const start = Math.min(e.range?.start ?? 0, Math.max(0, source.length - 1));
  const end = Math.max(start + 1, e.range?.end ?? start + 1);
  const single = source.charAt(start) === '=' && source.charAt(start + 1) !== '=';
  return {
    start,
    end,
    message: `invalid CEL expression: ${summary}`,
    ...(single
      ? { hint: `use == to compare: ${source.slice(0, start)}==${source.slice(start + 1)}` }
      : /string|quote/i.test(summary)
        ? { hint: 'close the string with the quote it starts with' }
        : {}),
  };
}

function typeProblem(
  source: string,
  error: {
    code?: string;
    summary?: string;
    range?: { start: number; end: number };
    node?: ASTNode;
  },
  scope: Scope,
  unknown: ReadonlySet<string>,
): CelProblem {
  const start = error.range?.start ?? 0;
  const end = error.range?.end ?? source.length;
  const text = source.slice(start, end);
  const summary = error.summary ?? 'type error';
  if (error.code === 'no_such_key') {
    const key = /No such key: (.*)$/.exec(summary)?.[1] ?? text;
    const node = error.node;
    let fields: string[] = [];
    let owner = 'the value';
    if (node && (node.op === '.' || node.op === '[]')) {
      const target = node.args[0];
      owner = source.slice(target.start, target.end);
      // The checker leaves the type it found on the node (a macro's variable, like `l` in
      // `lines.all(l, …)`, has no type outside it).
      const typeName =
        (target as { checkedType?: { name?: string } }).checkedType?.name ??
        environment(scope, unknown).check(owner).type;
      const object = typeName === undefined ? undefined : findObject(scope, typeName);
      fields = object ? [...object.fields.keys()] : [];
    }
    const near = nearest(key, fields);
    return {
      start,
      end,
      message: `${key} is not a field of ${owner}`,
      ...(near
        ? { hint: `did you mean ${owner}.${near}?` }
        : fields.length > 0
          ? { hint: `its fields: ${listed(fields)}` }
          : {}),
    };
  }
  const overload = /^no such overload: (.+)$/i.exec(summary);
  if (overload?.[1]) {
    const types = overload[1];
    return {
      start,
      end,
      message: `the types do not fit: ${text} is ${types}`,
      hint: /\bnull\b/.test(types)
        ? 'this value is never null here (only nullable fields, dyn, can be compared with null)'
        : /string/.test(types) && /int|double/.test(types)
          ? 'compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…)'
          : /int/.test(types) && /double/.test(types)
            ? 'CEL does not mix int and double in arithmetic: write 2.0 for a double, or convert with double(…) or int(…)'
            : 'convert one side with int(…), double(…), string(…) or bool(…)',
    };
  }
  return { start, end, message: `${summary}: ${text}` };
}

/** The object type CEL calls `typeName` among the scope's types. */
function findObject(
  scope: Scope,
  typeName: string,
): Extract<CelType, { kind: 'object' }> | undefined {
  const seen = new Set<CelType>();
  const search = (type: CelType): Extract<CelType, { kind: 'object' }> | undefined => {
    if (seen.has(type)) return undefined;
    seen.add(type);
    if (type.kind === 'object') {
      if (type.name.replace(/[^A-Za-z0-9_.]/g, '_') === typeName) return type;
      for (const field of type.fields.values()) {
        const found = search(field);
        if (found) return found;
      }
    } else if (type.kind !== 'scalar') return search(type.of);
    return undefined;
  };
  for (const type of [...scope.fields.values(), ...scope.extras.values()]) {
    const found = search(type);
    if (found) return found;
  }
  return undefined;
}
