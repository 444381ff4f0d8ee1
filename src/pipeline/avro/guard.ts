import type { Type } from 'avsc';
import { issue, type Issue, type IssueCode } from '../../core/issues.js';
import { PROTOTYPE_KEYS } from '../../core/objects.js';

/**
 * A bounds check for Avro bodies, compiled once per writer schema, run before avsc decodes.
 *
 * avsc trusts the bytes: an array or map block count is looped over in full (its Tap only
 * advances a position past the end of the buffer, so truncation is noticed after the loop),
 * items of a type that encodes to no bytes (`null`, `fixed` of size 0, a record of those)
 * cost no bytes at all, nesting follows recursive schemas as deep as the bytes say, and map
 * keys and field names are assigned to plain objects (`__proto__` sets a prototype). The
 * writer schema comes from the registry, chosen by the producer, so a 10-byte record could
 * make avsc build an array of 50,000,000 nulls.
 *
 * The guard reads the body once, as avsc will, following the writer schema: it checks every
 * block count against the bytes left times the fewest bytes an item can take, before
 * looping; bounds the nesting; refuses prototype keys in maps; checks union and enum indexes
 * and lengths; and counts the values the body decodes to, refusing more than
 * MAX_VALUES_PER_BYTE per byte (plus VALUES_ALLOWANCE): even items of one byte may carry
 * hundreds of zero-size fields. Its own work is linear in the bytes: every step it takes
 * reads at least one byte or is a record (bounded by the nesting), and zero-size parts of a
 * record are accounted for once, at compile time. The bytes are what the writer wrote, so
 * the check holds whether avsc then reads them as the writer schema or resolves them to a
 * reader schema (resolution changes what is built, not what is read; fields the reader does
 * not have are skipped, and the guard makes avsc's skip and read of a block agree).
 *
 * What the writer schema itself may not contain is refused once, at compile time: arrays of
 * zero-size items, and fields or named types called `__proto__`, `constructor` or
 * `prototype`.
 */

/** Values (records, fields, items, entries) a body may decode to, per byte of it. */
export const MAX_VALUES_PER_BYTE = 8;
/** …plus this many, for the fixed parts of a schema. */
export const VALUES_ALLOWANCE = 4096;
/** Schemas nested deeper than this (in their JSON) are refused before they are compiled. */
export const MAX_SCHEMA_NESTING = 1000;

/** Keys that must never reach a plain object: assigning them sets or shadows a prototype. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = PROTOTYPE_KEYS;

export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

export interface AvroGuard {
  /**
   * Whether the schema alone bounds what avsc does with a body: no arrays, maps or recursion,
   * at most VALUES_ALLOWANCE values nested at most `maxDepth` levels, whatever the bytes. Then
   * there is nothing to check that avsc does not check itself (a truncated or over-long body,
   * a bad union or enum index), and the decode stage skips `check`.
   */
  readonly bounded: boolean;
  /** The issue with the Avro body at `bytes[offset..]`, or undefined when avsc may decode it. */
  check(bytes: Buffer, offset: number): Issue | undefined;
}

/** What is wrong with a schema itself: a code, the schema path (`lines[]`, `attrs{}.unit`). */
export interface SchemaRefusal {
  readonly code: IssueCode;
  readonly path: string;
  readonly message: string;
}

// avsc's types, as far as the guard reads them.
interface AnyType {
  readonly typeName: string;
  readonly name?: string | undefined;
  readonly branchName?: string | undefined;
  readonly fields?: readonly { readonly name: string; readonly type: AnyType }[];
  readonly itemsType?: AnyType;
  readonly valuesType?: AnyType;
  readonly types?: readonly AnyType[];
  readonly symbols?: readonly string[];
  readonly size?: number;
  readonly underlyingType?: AnyType;
}

/** A refusal on the way out of a step; the enclosing steps add their segment of the path. */
class Refusal extends Error {
  readonly segments: string[] = [];
  constructor(
    readonly code: IssueCode,
    message: string,
  ) {
    super(message);
  }
}

class SchemaError extends Error {
  constructor(readonly refusal: SchemaRefusal) {
    super(refusal.message);
  }
}

/**
 * One step of the check: the value at `pos`, at nesting `depth` (the top record is 1);
 * returns the position after it, or throws a Refusal.
 */
type Step = (buf: Buffer, pos: number, depth: number) => number;

// The long last read (a second return value without allocating), and the values counted so
// far in the current check. The check is synchronous, so one of each suffices.
let long = 0;
let values = 0;

/** Avro's zigzag varint, exactly as avsc's Tap.readLong reads it (past the end: zeros). */
function readLong(buf: Buffer, pos: number): number {
  let n = 0;
  let k = 0;
  let b: number;
  let h: number;
  do {
    b = buf[pos++] ?? 0;
    h = b & 0x80;
    n |= (b & 0x7f) << k;
    k += 7;
  } while (h && k < 28);
  if (h) {
    let f = n;
    let fk = 268435456; // 2 ** 28
    do {
      b = buf[pos++] ?? 0;
      f += (b & 0x7f) * fk;
      fk *= 128;
    } while (b & 0x80);
    long = (f % 2 ? -(f + 1) : f) / 2;
  } else {
    long = (n >> 1) ^ -(n & 1);
  }
  return pos;
}

const truncated = (): Refusal => new Refusal('decode.truncated', 'the Avro value ends early');
const invalid = (message: string): Refusal => new Refusal('decode.invalid-avro', message);

function formatPath(segments: readonly string[]): string {
  let path = '';
  for (const segment of segments) {
    if (segment.startsWith('[')) path += segment;
    else path = path === '' ? segment : `${path}.${segment}`;
  }
  return path;
}

function isRecord(type: AnyType): boolean {
  return type.typeName === 'record' || type.typeName === 'error';
}

function isNamed(type: AnyType): boolean {
  return isRecord(type) || type.typeName === 'enum' || type.typeName === 'fixed';
}

/** A schema path segment appended to `prefix`, as `schemaFieldOf` writes them. */
const fieldPath = (prefix: string, name: string): string =>
  prefix === '' ? name : `${prefix}.${name}`;

/**
 * Every type in the schema, once, with the schema path where it first appears. Refuses
 * forbidden field and type names, and schemas nested deeper than MAX_SCHEMA_NESTING.
 */
function collect(root: AnyType): Map<AnyType, string> {
  const seen = new Map<AnyType, string>();
  const visit = (type: AnyType, path: string, nesting: number): void => {
    if (seen.has(type)) return;
    if (nesting > MAX_SCHEMA_NESTING) {
      throw new SchemaError({
        code: 'decode.too-deep',
        path,
        message: `nests deeper than ${MAX_SCHEMA_NESTING} levels`,
      });
    }
    seen.set(type, path);
    if (isNamed(type) && type.name !== undefined && isForbiddenKey(type.name)) {
      throw new SchemaError({
        code: 'decode.forbidden-key',
        path,
        message: `names a type ${type.name}, which is not allowed (prototype pollution)`,
      });
    }
    if (type.fields) {
      for (const field of type.fields) {
        const inner = fieldPath(path, field.name);
        if (isForbiddenKey(field.name)) {
          throw new SchemaError({
            code: 'decode.forbidden-key',
            path: inner,
            message: `has a field ${field.name}, which is not allowed (prototype pollution)`,
          });
        }
        visit(field.type, inner, nesting + 1);
      }
    }
    if (type.typeName === 'array' && type.itemsType)
      visit(type.itemsType, `${path}[]`, nesting + 1);
    if (type.typeName === 'map' && type.valuesType)
      visit(type.valuesType, `${path}{}`, nesting + 1);
    if (type.types) for (const branch of type.types) visit(branch, path, nesting + 1);
    if (type.typeName.startsWith('logical:') && type.underlyingType)
      visit(type.underlyingType, path, nesting + 1);
  };
  visit(root, '', 0);
  return seen;
}

/** What avsc reads a logical type as. */
function underlying(type: AnyType): AnyType {
  let current = type;
  while (current.typeName.startsWith('logical:') && current.underlyingType)
    current = current.underlyingType;
  return current;
}

/**
 * The fewest bytes a value of each type takes. Records may be recursive, so their minimum
 * is a fixpoint: from Infinity down (a record that needs itself has no finite value).
 */
function minimumSizes(types: Iterable<AnyType>): (type: AnyType) => number {
  const records = new Map<AnyType, number>();
  for (const type of types) if (isRecord(type)) records.set(type, Infinity);
  const min = (type: AnyType): number => {
    const t = underlying(type);
    switch (t.typeName) {
      case 'null':
        return 0;
      case 'fixed':
        return t.size ?? 0;
      case 'float':
        return 4;
      case 'double':
        return 8;
      case 'record':
      case 'error':
        return records.get(t) ?? Infinity;
      case 'union:unwrapped':
      case 'union:wrapped':
        return 1 + Math.min(...(t.types ?? []).map(min));
      default:
        // boolean, int, long, abstract:long, enum, string, bytes, array, map: a varint or a
        // byte at least (an empty array or map is its 0 terminator).
        return 1;
    }
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const [record, size] of records) {
      let sum = 0;
      for (const field of record.fields ?? []) sum += min(field.type);
      if (sum < size) {
        records.set(record, sum);
        changed = true;
      }
    }
  }
  return min;
}

/** Nesting levels and values of a zero-size value (no bytes, so always the same). */
function zeroShape(type: AnyType): { readonly height: number; readonly descendants: number } {
  const t = underlying(type);
  if (!isRecord(t)) return { height: 0, descendants: 0 };
  let height = 0;
  let descendants = 0;
  for (const field of t.fields ?? []) {
    const inner = zeroShape(field.type);
    height = Math.max(height, inner.height);
    descendants += 1 + inner.descendants;
  }
  return { height: 1 + height, descendants };
}

/**
 * The most levels and values any body of the type decodes to, or undefined when the bytes
 * decide (arrays, maps, recursion). Memoized per type: a type that reaches one still being
 * measured is on a cycle with it, so recursive too.
 */
function staticShape(root: AnyType): { depth: number; values: number } | undefined {
  const shapes = new Map<AnyType, { depth: number; values: number } | undefined>();
  const measuring = new Set<AnyType>();
  const shape = (type: AnyType): { depth: number; values: number } | undefined => {
    const t = underlying(type);
    if (shapes.has(t)) return shapes.get(t);
    if (measuring.has(t)) return undefined;
    measuring.add(t);
    let result: { depth: number; values: number } | undefined = { depth: 0, values: 0 };
    if (t.typeName === 'array' || t.typeName === 'map') result = undefined;
    else if (isRecord(t)) {
      let depth = 0;
      let values = 0;
      for (const field of t.fields ?? []) {
        const inner = shape(field.type);
        if (inner === undefined) {
          result = undefined;
          break;
        }
        depth = Math.max(depth, inner.depth);
        values += 1 + inner.values;
      }
      if (result) result = { depth: 1 + depth, values };
    } else if (t.types) {
      // A wrapped branch is an object around its value.
      const wrap = t.typeName === 'union:wrapped' ? 1 : 0;
      let depth = 0;
      let values = 0;
      for (const branch of t.types) {
        const inner = shape(branch);
        if (inner === undefined) {
          result = undefined;
          break;
        }
        depth = Math.max(depth, inner.depth + wrap);
        values = Math.max(values, inner.values + wrap);
      }
      if (result) result = { depth, values };
    }
    measuring.delete(t);
    shapes.set(t, result);
    return result;
  };
  return shape(root);
}

const FORBIDDEN_LENGTHS = new Set([...FORBIDDEN_KEYS].map((key) => key.length));

function compileSteps(root: AnyType, maxDepth: number): { root: Step; bounded: boolean } {
  const paths = collect(root);
  const min = minimumSizes(paths.keys());
  for (const [type, path] of paths) {
    if (type.typeName === 'array' && type.itemsType && min(type.itemsType) === 0) {
      throw new SchemaError({
        code: 'decode.zero-size-items',
        path,
        message: `has an array of ${underlying(type.itemsType).typeName} items, which take no bytes: a block count alone could make any number of them`,
      });
    }
  }
  const tooDeep = (): Refusal =>
    new Refusal('decode.too-deep', `nested deeper than ${maxDepth} levels`);
  const compiled = new Map<AnyType, Step>();

  const compile = (type: AnyType): Step => {
    const known = compiled.get(type);
    if (known) return known;
    const step = build(underlying(type));
    compiled.set(type, step);
    return step;
  };

  const build = (type: AnyType): Step => {
    if (min(type) === 0) {
      // A zero-size value (only ever reached as a union branch: records account for their
      // zero-size fields themselves, arrays of them are refused).
      const { height, descendants } = zeroShape(type);
      return (_buf, pos, depth) => {
        if (depth + height - 1 > maxDepth) throw tooDeep();
        values += descendants;
        return pos;
      };
    }
    switch (type.typeName) {
      case 'boolean':
        return (buf, pos) => {
          if (pos + 1 > buf.length) throw truncated();
          return pos + 1;
        };
      case 'int':
      case 'long':
      case 'abstract:long':
        return (buf, pos) => {
          pos = readLong(buf, pos);
          if (pos > buf.length) throw truncated();
          return pos;
        };
      case 'float':
      case 'double':
      case 'fixed': {
        const size = min(type);
        return (buf, pos) => {
          if (pos + size > buf.length) throw truncated();
          return pos + size;
        };
      }
      case 'string':
      case 'bytes':
        return (buf, pos) => {
          pos = readLong(buf, pos);
          const length = long;
          if (pos > buf.length) throw truncated();
          if (length < 0) throw invalid(`negative length ${length}`);
          if (pos + length > buf.length) throw truncated();
          return pos + length;
        };
      case 'enum': {
        const count = type.symbols?.length ?? 0;
        return (buf, pos) => {
          pos = readLong(buf, pos);
          const index = long;
          if (pos > buf.length) throw truncated();
          if (!(index >= 0 && index < count)) throw invalid(`enum index ${index} out of range`);
          return pos;
        };
      }
      case 'union:unwrapped':
      case 'union:wrapped':
        return union(type);
      case 'record':
      case 'error':
        return record(type);
      case 'array':
        return blocks(type, false);
      case 'map':
        return blocks(type, true);
      default:
        throw new SchemaError({
          code: 'decode.invalid-avro',
          path: '',
          message: `has a type membrane cannot check (${type.typeName})`,
        });
    }
  };

  const union = (type: AnyType): Step => {
    const branches: Step[] = [];
    const wrapped = type.typeName === 'union:wrapped';
    // A wrapped branch is an object around the value ({ "string": "x" }); null stays null.
    const objects: boolean[] = [];
    for (const branch of type.types ?? []) {
      branches.push(compile(branch));
      objects.push(wrapped && underlying(branch).typeName !== 'null');
    }
    return (buf, pos, depth) => {
      pos = readLong(buf, pos);
      const index = long;
      if (pos > buf.length) throw truncated();
      const branch = branches[index];
      if (branch === undefined) throw invalid(`union branch index ${index} out of range`);
      if (objects[index] === true) {
        if (depth > maxDepth) throw tooDeep();
        values += 1;
        return branch(buf, pos, depth + 1);
      }
      return branch(buf, pos, depth);
    };
  };

  const record = (type: AnyType): Step => {
    const names: string[] = [];
    const steps: Step[] = [];
    // Fields, plus the values inside zero-size fields, counted without reading them.
    let count = 0;
    let zeroHeight = 0;
    let deepest = '';
    for (const field of type.fields ?? []) {
      count += 1;
      if (min(field.type) === 0) {
        const shape = zeroShape(field.type);
        count += shape.descendants;
        if (shape.height > zeroHeight) {
          zeroHeight = shape.height;
          deepest = field.name;
        }
      }
    }
    const step: Step = (buf, pos, depth) => {
      if (depth > maxDepth) throw tooDeep();
      if (depth + zeroHeight > maxDepth) {
        const refusal = tooDeep();
        refusal.segments.push(deepest);
        throw refusal;
      }
      values += count;
      let i = 0;
      try {
        for (; i < steps.length; i++) pos = (steps[i] as Step)(buf, pos, depth + 1);
      } catch (error) {
        if (error instanceof Refusal) error.segments.unshift(names[i] ?? '');
        throw error;
      }
      return pos;
    };
    // Registered before the fields compile, for recursive records.
    compiled.set(type, step);
    for (const field of type.fields ?? []) {
      if (min(field.type) === 0) continue;
      names.push(field.name);
      steps.push(compile(field.type));
    }
    return step;
  };

  const blocks = (type: AnyType, map: boolean): Step => {
    const itemType = (map ? type.valuesType : type.itemsType) as AnyType;
    const itemMin = min(itemType) + (map ? 1 : 0); // a map entry is a key, then a value
    const item = compile(itemType);
    return (buf, pos, depth) => {
      if (depth > maxDepth) throw tooDeep();
      // Where the current item (or entry's key) starts, for the path of a refusal in it.
      let index = 0;
      let keyStart = -1;
      let keyEnd = -1;
      for (;;) {
        pos = readLong(buf, pos);
        let count = long;
        if (pos > buf.length) throw truncated();
        if (count === 0) return pos;
        let size = -1;
        if (count < 0) {
          // A negative count is followed by the block's size in bytes.
          count = -count;
          pos = readLong(buf, pos);
          size = long;
          if (pos > buf.length) throw truncated();
          if (size < 0) throw invalid(`negative block size ${size}`);
        }
        const left = buf.length - pos;
        if (count * itemMin > left) {
          throw new Refusal(
            'decode.block-count',
            `a block of ${count} ${map ? 'entries' : 'items'} needs at least ${count * itemMin} bytes; ${left} left`,
          );
        }
        values += count;
        const start = pos;
        try {
          for (let n = 0; n < count; n++, index++) {
            if (map) {
              keyStart = keyEnd = -1;
              pos = readLong(buf, pos);
              const length = long;
              if (pos > buf.length) throw truncated();
              if (length < 0) throw invalid(`negative length ${length}`);
              if (pos + length > buf.length) throw truncated();
              keyStart = pos;
              keyEnd = pos += length;
              if (FORBIDDEN_LENGTHS.has(length)) {
                const key = buf.toString('latin1', keyStart, keyEnd);
                if (isForbiddenKey(key)) {
                  throw new Refusal(
                    'decode.forbidden-key',
                    `key ${key} is not allowed (prototype pollution)`,
                  );
                }
              }
            }
            pos = item(buf, pos, depth + 1);
          }
        } catch (error) {
          if (error instanceof Refusal) {
            if (!map) error.segments.unshift(`[${index}]`);
            else if (keyStart >= 0) error.segments.unshift(buf.toString('utf8', keyStart, keyEnd));
          }
          throw error;
        }
        if (size >= 0 && pos - start !== size) {
          throw invalid(`a block's size says ${size} bytes, its items take ${pos - start}`);
        }
      }
    };
  };

  const shape = staticShape(root);
  return {
    root: compile(root),
    bounded: shape !== undefined && shape.depth <= maxDepth && 1 + shape.values <= VALUES_ALLOWANCE,
  };
}

/** `TypeError: x is not a function`, cut to 200 characters, for a refusal's message. */
export function describeError(error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : `a thrown ${typeof error}`;
  } catch {
    text = 'an unreadable error';
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Compiles the guard for a writer schema, or says why no body written with it is decoded.
 * For a reader schema, see `readerSchemaRefusal`.
 */
export function compileAvroGuard(type: Type, maxDepth: number): AvroGuard | SchemaRefusal {
  let root: Step;
  let bounded: boolean;
  try {
    ({ root, bounded } = compileSteps(type, maxDepth));
  } catch (error) {
    if (error instanceof SchemaError) return error.refusal;
    // MAX_SCHEMA_NESTING keeps the compile well within the stack; should a caller's stack be
    // deep already, the schema is still the record's problem, not the runtime's.
    if (error instanceof RangeError)
      return { code: 'decode.too-deep', path: '', message: 'nests too deep to be checked' };
    // Anything else came from a writer schema shaped like nothing the guard expects (a type
    // object avsc built oddly from a hostile schema: a field type that is not a type…). The
    // schema is the producer's choice, so it is the record's problem: thrown, the runtime
    // would read it as a bug and stop, on every restart.
    return {
      code: 'decode.unparseable-schema',
      path: '',
      message: `cannot be checked: ${describeError(error)}`,
    };
  }
  return {
    bounded,
    check(bytes, offset) {
      values = 1;
      let pos: number;
      try {
        pos = root(bytes, offset, 1);
      } catch (error) {
        if (!(error instanceof Refusal)) throw error;
        return issue(error.code, formatPath(error.segments), error.message);
      }
      if (pos !== bytes.length)
        return issue(
          'decode.invalid-avro',
          '',
          `${bytes.length - pos} bytes left over after the Avro value`,
        );
      const budget = MAX_VALUES_PER_BYTE * (bytes.length - offset) + VALUES_ALLOWANCE;
      if (values > budget) {
        return issue(
          'decode.too-many-values',
          '',
          `${bytes.length - offset} bytes would decode to ${values} values (at most ${MAX_VALUES_PER_BYTE} per byte plus ${VALUES_ALLOWANCE})`,
        );
      }
      return undefined;
    },
  };
}

/**
 * What a reader schema may not contain: fields or named types called `__proto__`,
 * `constructor` or `prototype` (avsc assigns field values to `this.<name>`).
 */
export function readerSchemaRefusal(type: Type): SchemaRefusal | undefined {
  try {
    collect(type);
  } catch (error) {
    if (error instanceof SchemaError) return error.refusal;
    throw error;
  }
  return undefined;
}
