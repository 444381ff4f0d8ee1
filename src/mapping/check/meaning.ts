import {
  BOOL,
  checkExpression,
  commonType,
  DOUBLE,
  DYN,
  INT,
  listOf,
  mapOf,
  nullable,
  objectOf,
  STRING,
  typeAtPath,
  typeOfJson,
  type CelType,
  type Scope,
} from './cel-types.js';
import { closest, distance } from 'fastest-levenshtein';
import { unitConverter } from '../../pipeline/units.js';
import { luxonFormatProblems, zoneProblem } from './luxon.js';
import { expressionSyntaxError } from '../../pipeline/stages/upcast.js';

/**
 * The checks of what a mapping means, beyond its shape: every CEL expression type-checked
 * against what the record can contain, date formats against Luxon's tokens, zones against
 * IANA's names. They read the mapping as parsed (not as validated), defensively, so a file
 * with shape errors gets these problems in the same report.
 */
export type SpecPath = readonly (string | number)[];

export interface MeaningProblem {
  readonly path: SpecPath;
  readonly message: string;
  readonly hint?: string;
  /** Where in the value at `path` (a character range of `text`), when it is text. */
  readonly within?: { readonly start: number; readonly end: number; readonly text: string };
}

/** What the upstream record can contain, and where that is known from. */
export interface SourceShape {
  /** The record's type (an object with its fields), from `source.schema`. */
  readonly type: CelType;
  /** `schema order.avsc`, for messages. */
  readonly from: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const head = (path: string): string => path.split(/[.[]/)[0] ?? path;

/** The upstream names a set of field specs reads (first segments of `from`, `each`, a shorthand path). */
function namesRead(map: unknown, into: Set<string>): void {
  if (!isObj(map)) return;
  for (const [name, spec] of Object.entries(map)) {
    if (typeof spec === 'string') into.add(head(spec));
    else if (isObj(spec)) {
      const from = str(spec['from']) ?? str(spec['each']);
      if (from !== undefined) into.add(head(from));
      else if (spec['const'] === undefined && spec['expr'] === undefined) into.add(head(name));
    }
  }
}

/** Every upstream top-level field the mapping names outside CEL. */
function upstreamNames(raw: Obj): Set<string> {
  const names = namesReadAfterUpcast(raw);
  for (const path of upcastNames(raw)) names.add(path);
  return names;
}

/** The top-level fields the routes and the identity read (outside CEL). */
function namesReadAfterUpcast(raw: Obj): Set<string> {
  const names = new Set<string>();
  const events = Array.isArray(raw['events']) ? raw['events'] : [];
  for (const route of events) if (isObj(route)) namesRead(route['map'], names);
  const identity = isObj(raw['identity']) ? raw['identity'] : {};
  for (const key of ['aggregate', 'event']) {
    const path = str(identity[key]);
    if (path !== undefined) names.add(head(path));
  }
  for (const key of ['correlation', 'causation', 'clock']) {
    const spec = identity[key];
    const path = isObj(spec) ? str(spec['field']) : undefined;
    if (path !== undefined) names.add(head(path));
  }
  return names;
}

/** Names an upcast writes (renamed to, defaulted, set, computed) and its version field. */
function upcastNames(raw: Obj): Set<string> {
  const names = new Set<string>();
  const upcast = isObj(raw['upcast']) ? raw['upcast'] : undefined;
  if (!upcast) return names;
  const field = str(upcast['field']);
  if (field !== undefined) names.add(head(field));
  const steps = isObj(upcast['steps']) ? upcast['steps'] : {};
  for (const step of Object.values(steps)) {
    if (!isObj(step)) continue;
    if (isObj(step['rename']))
      for (const to of Object.values(step['rename']))
        if (typeof to === 'string') names.add(head(to));
    for (const key of ['default', 'set', 'compute'])
      if (isObj(step[key])) for (const path of Object.keys(step[key])) names.add(head(path));
  }
  return names;
}

const CAST_TYPES: Readonly<Record<string, CelType>> = {
  string: STRING,
  int: INT,
  long: INT,
  double: DOUBLE,
  decimal: INT,
  boolean: BOOL,
  timestamp: INT,
  date: INT,
};

/** Checks of one mapping; `source` when `source.schema` could be read. */
export function checkMeaning(raw: unknown, source: SourceShape | undefined): MeaningProblem[] {
  const problems: MeaningProblem[] = [];
  if (!isObj(raw)) return problems;
  const upstreamType = source?.type;
  const upstreamFields = new Map<string, CelType>();
  let closed = true;
  let inputTop = upstreamType;
  if (upstreamType?.kind === 'object') {
    for (const [name, type] of upstreamType.fields) upstreamFields.set(name, type);
    // An upcast may write fields the schema does not have.
    for (const name of upcastNames(raw))
      if (!upstreamFields.has(name)) upstreamFields.set(name, DYN);
    inputTop = objectOf(upstreamType.name, upstreamFields);
  } else if (upstreamType) {
    closed = false;
  } else {
    for (const name of upstreamNames(raw)) upstreamFields.set(name, DYN);
  }
  const recordType = upstreamType ?? mapOf(DYN);
  const upstream: Scope = {
    what: source ? `the upstream record (${source.from})` : 'the upstream record',
    fields: upstreamFields,
    extras: new Map(),
    closed,
    ...(source
      ? {}
      : {
          otherwise: (name: string) =>
            `no map or identity reads a field ${name}; write record.${name} to read a field the mapping names nowhere else, or give source.schema`,
        }),
  };

  const cel = (
    path: SpecPath,
    text: unknown,
    scope: Scope,
    condition: boolean,
  ): string | undefined => {
    if (typeof text !== 'string' || text.trim() === '') return undefined;
    const checked = checkExpression(text, scope, condition);
    for (const p of checked.problems)
      problems.push({
        path,
        message: p.message,
        ...(p.hint ? { hint: p.hint } : {}),
        within: { start: p.start, end: p.end, text },
      });
    return checked.type;
  };

  /** The type of an upstream path; a problem when the schema says the record has no such field. */
  const readType = (
    inputType: CelType | undefined,
    path: string,
    at: SpecPath,
    scope: Scope,
  ): CelType => {
    if (!inputType) return DYN;
    const type = typeAtPath(inputType, path);
    if (type) return type;
    const first = head(path);
    const fields = inputType.kind === 'object' ? [...inputType.fields.keys()] : [];
    const near = fields.includes(first) ? undefined : closestName(first, fields);
    problems.push({
      path: at,
      message: `${path} is not in ${scope.what}`,
      ...(near ? { hint: `did you mean ${near}?` } : {}),
    });
    return DYN;
  };

  /** Checks a map's fields (recursively into `each`); returns the translated record's fields. */
  const checkMap = (
    map: unknown,
    at: SpecPath,
    scope: Scope,
    inputType: CelType | undefined,
  ): Map<string, CelType> => {
    const out = new Map<string, CelType>();
    if (!isObj(map)) return out;
    for (const [name, spec] of Object.entries(map)) {
      const fieldAt = [...at, name];
      if (typeof spec === 'string') {
        out.set(name, readType(inputType, spec, fieldAt, scope));
        continue;
      }
      if (!isObj(spec)) continue;
      const format = str(spec['format']);
      if (format !== undefined) {
        for (const p of luxonFormatProblems(format))
          problems.push({
            path: [...fieldAt, 'format'],
            message: p.message,
            hint: p.hint,
            within: { start: p.offset, end: p.offset + p.token.length, text: format },
          });
      }
      const unit = isObj(spec['unit']) ? spec['unit'] : undefined;
      if (unit && typeof unit['from'] === 'string' && typeof unit['to'] === 'string') {
        try {
          unitConverter(unit['from'], unit['to']);
        } catch (error) {
          problems.push({ path: [...fieldAt, 'unit'], message: (error as Error).message });
        }
      }
      const zone = str(spec['zone']);
      const badZone = zone === undefined ? undefined : zoneProblem(zone);
      if (badZone) problems.push({ path: [...fieldAt, 'zone'], ...badZone });

      let type: CelType = DYN;
      if (spec['const'] !== undefined) type = typeOfJson(spec['const']);
      else if (spec['expr'] !== undefined) {
        const result = cel([...fieldAt, 'expr'], spec['expr'], scope, false);
        type = result === undefined ? DYN : celTypeNamed(result);
      } else if (typeof spec['each'] === 'string') {
        const list = inputType
          ? readType(inputType, spec['each'], [...fieldAt, 'each'], scope)
          : undefined;
        const unwrapped = list?.kind === 'nullable' ? list.of : list;
        const element =
          unwrapped?.kind === 'list'
            ? unwrapped.of.kind === 'nullable'
              ? unwrapped.of.of
              : unwrapped.of
            : undefined;
        const elementFields = new Map<string, CelType>();
        if (element?.kind === 'object') {
          for (const [n, t] of element.fields) elementFields.set(n, t);
        } else {
          // No schema says what an element holds: any name goes (dyn), as record.x does at
          // the top level; the names the map reads are listed for their types.
          const read = new Set<string>();
          namesRead(spec['map'], read);
          for (const n of read) elementFields.set(n, DYN);
        }
        const elementScope: Scope = {
          what: `an element of ${spec['each']}`,
          fields: elementFields,
          extras: new Map([['record', recordType]]),
          closed: element?.kind === 'object',
        };
        const elementOut = checkMap(
          spec['map'],
          [...fieldAt, 'map'],
          elementScope,
          element?.kind === 'object' ? element : undefined,
        );
        type = listOf(objectOf(name, elementOut));
      } else if (typeof spec['from'] === 'string') {
        type = readType(inputType, spec['from'], [...fieldAt, 'from'], scope);
      }
      if (isObj(spec['lookup'])) {
        const values = Object.values(spec['lookup']).map(typeOfJson);
        if (spec['default'] !== undefined) values.push(typeOfJson(spec['default']));
        type = commonType(values);
      } else if (spec['default'] !== undefined && spec['as'] === undefined) {
        type = commonType([type, typeOfJson(spec['default'])]);
      }
      const cast = str(spec['as']);
      if (cast !== undefined) type = CAST_TYPES[cast] ?? DYN;
      if (isObj(spec['unit'])) type = DOUBLE;
      if (spec['optional'] === true) type = nullable(type);
      out.set(name, type);
    }
    return out;
  };

  const events = Array.isArray(raw['events']) ? raw['events'] : [];
  const routeExtras = new Map<string, CelType>([
    ['record', recordType],
    ['topic', STRING],
    ['headers', mapOf(STRING)],
  ]);
  events.forEach((route: unknown, index) => {
    if (!isObj(route)) return;
    const at: SpecPath = ['events', index];
    cel([...at, 'when'], route['when'], { ...upstream, extras: routeExtras }, true);
    const exprScope: Scope = { ...upstream, extras: new Map([['record', recordType]]) };
    const out = checkMap(route['map'], [...at, 'map'], exprScope, inputTop);
    const invariants = Array.isArray(route['invariants']) ? route['invariants'] : [];
    const translated: Scope = {
      what: 'the translated record',
      fields: out,
      extras: new Map([['record', recordType]]),
      closed: isObj(route['map']),
      otherwise: () =>
        'rules read the translated record’s fields (the keys of map); the upstream record is record',
    };
    invariants.forEach((invariant: unknown, i) => {
      if (isObj(invariant))
        cel([...at, 'invariants', i, 'rule'], invariant['rule'], translated, true);
    });
  });
  routeNamesAndKeys(events, problems);
  checkComputes(raw, upstreamType, upstream.otherwise, cel);
  return problems;
}

/** `upcast.field`, `upcast.steps.N.compute.x`: a path's first segment, a variable of the record. */
const isTopLevel = (path: string): boolean => head(path) === path;

/**
 * The `compute` expressions of the upcast steps, each against the record as its step finds
 * it: the upstream fields (`source.schema`'s, or without one the names the mapping reads),
 * as the steps before and this step's rename, default and set left them, plus `record`. Not
 * `topic` or `headers`: an upcast computes from the record alone. The expressions of one step
 * read the same record (one never sees another's result). A syntax error is the schema's to
 * report (spec.ts), once.
 */
function checkComputes(
  raw: Obj,
  upstreamType: CelType | undefined,
  upstreamOtherwise: ((name: string) => string | undefined) | undefined,
  cel: (path: SpecPath, text: unknown, scope: Scope, condition: boolean) => string | undefined,
): void {
  const upcast = isObj(raw['upcast']) ? raw['upcast'] : undefined;
  const steps = upcast && isObj(upcast['steps']) ? upcast['steps'] : undefined;
  if (!steps) return;
  const versions = Object.keys(steps)
    .filter((v) => /^\d+$/.test(v) && isObj(steps[v]))
    .sort((a, b) => Number(a) - Number(b));
  if (!versions.some((v) => isObj((steps[v] as Obj)['compute']))) return;
  const closed = upstreamType === undefined || upstreamType.kind === 'object';
  const current = new Map<string, CelType>();
  if (upstreamType?.kind === 'object')
    for (const [name, type] of upstreamType.fields) current.set(name, type);
  // Without a schema: the names the mapping reads. With one or not, an older version's fields
  // (which a schema of one version may not have): the version field, and the fields a step
  // renames, defaults or removes.
  const older = upstreamType === undefined ? namesReadAfterUpcast(raw) : new Set<string>();
  const field = str(upcast?.['field']);
  if (field !== undefined) older.add(head(field));
  for (const v of versions) {
    const step = steps[v] as Obj;
    for (const key of ['rename', 'default'])
      if (isObj(step[key])) for (const from of Object.keys(step[key])) older.add(head(from));
    if (Array.isArray(step['remove']))
      for (const path of step['remove']) if (typeof path === 'string') older.add(head(path));
  }
  if (upstreamType === undefined || upstreamType.kind === 'object')
    for (const name of older) if (!current.has(name)) current.set(name, DYN);
  const write = (path: string, type: CelType): void => {
    // A nested path changes an object the checker cannot follow: dyn from then on.
    current.set(head(path), isTopLevel(path) ? type : DYN);
  };
  for (const v of versions) {
    const step = steps[v] as Obj;
    if (isObj(step['rename']))
      for (const [from, to] of Object.entries(step['rename'])) {
        if (typeof to !== 'string') continue;
        const type = isTopLevel(from) ? (current.get(from) ?? DYN) : DYN;
        if (isTopLevel(from)) current.delete(from);
        write(to, type);
      }
    if (isObj(step['default']))
      for (const [path, value] of Object.entries(step['default'])) {
        const had = current.get(head(path));
        write(path, had === undefined ? typeOfJson(value) : commonType([had, typeOfJson(value)]));
      }
    if (isObj(step['set']))
      for (const [path, value] of Object.entries(step['set'])) write(path, typeOfJson(value));
    const computed = new Map<string, CelType>();
    if (isObj(step['compute'])) {
      const fields = new Map(current);
      const scope: Scope = {
        what: `the record at version ${v}`,
        fields,
        extras: new Map([
          [
            'record',
            upstreamType?.kind === 'object' ? objectOf(upstreamType.name, fields) : mapOf(DYN),
          ],
        ]),
        closed,
        otherwise: (name) =>
          name === 'topic' || name === 'headers'
            ? `an upcast computes from the record alone; ${name} is read by a route's when`
            : upstreamOtherwise?.(name),
      };
      for (const [path, text] of Object.entries(step['compute'])) {
        if (typeof text !== 'string' || expressionSyntaxError(text) !== undefined) continue;
        const type = cel(['upcast', 'steps', v, 'compute', path], text, scope, false);
        computed.set(path, type === undefined ? DYN : celTypeNamed(type));
      }
    }
    for (const [path, type] of computed) write(path, type);
    if (Array.isArray(step['remove']))
      for (const path of step['remove'])
        if (typeof path === 'string' && isTopLevel(path)) current.delete(path);
  }
}

/**
 * Whole-file checks of the routes, made here (not in the schema, whose whole-file refinement
 * waits for every field to fit) so they come in the same report as the rest: a route name used
 * twice, and an output key that is not a field of the route's map.
 */
function routeNamesAndKeys(events: readonly unknown[], problems: MeaningProblem[]): void {
  const seen = new Set<string>();
  events.forEach((route: unknown, index) => {
    if (!isObj(route)) return;
    const name = str(route['name']);
    if (name !== undefined) {
      if (seen.has(name))
        problems.push({
          path: ['events', index, 'name'],
          message: `route name ${name} is used twice`,
          hint: 'give each route its own name',
        });
      seen.add(name);
    }
    const map = route['map'];
    if (!isObj(map)) return;
    const targets: [unknown, SpecPath][] = Array.isArray(route['to'])
      ? route['to'].map((t: unknown, i) => [t, ['events', index, 'to', i, 'key']])
      : [[route['to'], ['events', index, 'to', 'key']]];
    for (const [target, at] of targets) {
      const key = isObj(target) ? str(target['key']) : undefined;
      if (key === undefined) continue;
      const first = (key.split('.')[0] ?? '').replace(/\[\d+\]$/, '');
      if (Object.hasOwn(map, first)) continue;
      const fields = Object.keys(map);
      const near = closestName(first, fields);
      problems.push({
        path: at,
        message: `key ${key} is not a field of the map`,
        ...(near
          ? { hint: `did you mean ${near}?` }
          : fields.length > 0
            ? { hint: `its fields: ${fields.join(', ')}` }
            : {}),
      });
    }
  });
}

/** The checker's name of a result type back as a CelType (scalars; the rest dyn). */
function celTypeNamed(name: string): CelType {
  switch (name) {
    case 'int':
      return INT;
    case 'double':
      return DOUBLE;
    case 'string':
      return STRING;
    case 'bool':
      return BOOL;
    default:
      return name.startsWith('list<') ? listOf(DYN) : DYN;
  }
}

function closestName(name: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  const best = closest(name, [...candidates]);
  return distance(name.toLowerCase(), best.toLowerCase()) <=
    (name.length <= 3 ? 1 : Math.max(2, Math.floor(name.length / 3)))
    ? best
    : undefined;
}
