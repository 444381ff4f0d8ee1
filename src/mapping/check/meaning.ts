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
  for (const path of upcastNames(raw)) names.add(path);
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
        let elementClosed = true;
        if (element?.kind === 'object') {
          for (const [n, t] of element.fields) elementFields.set(n, t);
        } else if (element !== undefined && inputType !== undefined) {
          elementClosed = false;
        } else {
          const read = new Set<string>();
          namesRead(spec['map'], read);
          for (const n of read) elementFields.set(n, DYN);
        }
        const elementScope: Scope = {
          what: `an element of ${spec['each']}`,
          fields: elementFields,
          extras: new Map([['record', recordType]]),
          closed: elementClosed,
          ...(element?.kind === 'object' || !elementClosed
            ? {}
            : {
                otherwise: () =>
                  'an element’s fields are the ones its map reads; give source.schema to check against all of them',
              }),
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
  return problems;
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
