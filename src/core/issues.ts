/**
 * What can be wrong with a record: one closed list of codes, `<stage>.<what>`. Quarantine
 * records, metrics and the CLI all speak these codes; adding one is a deliberate change.
 */
export const STAGES = [
  'decode',
  'trust',
  'upcast',
  'map',
  'validate',
  'route',
  'stamp',
  'encode',
] as const;
export type Stage = (typeof STAGES)[number];

export const ISSUE_CODES = [
  'decode.empty-value',
  'decode.invalid-utf8',
  'decode.invalid-json',
  'decode.too-deep',
  'decode.forbidden-key',
  'decode.not-an-object',
  'decode.wrong-magic-byte',
  'decode.unknown-schema',
  'decode.unparseable-schema',
  'decode.truncated',
  'decode.invalid-avro',
  'decode.block-count',
  'decode.zero-size-items',
  'decode.too-many-values',
  'trust.too-many-headers',
  'trust.headers-too-large',
  'trust.record-too-large',
  'trust.batch-refused',
  'trust.batch-unpacked',
  'trust.source-not-allowed',
  'trust.signature-missing',
  'trust.signature-malformed',
  'trust.unknown-key',
  'trust.signature-invalid',
  'upcast.unknown-version',
  'upcast.compute-failed',
  'map.missing-field',
  'map.invalid-type',
  'map.cast-failed',
  'map.unknown-code',
  'map.invalid-date',
  'map.expression-failed',
  'validate.invariant',
  'validate.expression-failed',
  'route.no-match',
  'stamp.missing-identity',
  'stamp.invalid-clock',
  'stamp.concurrent-clock',
  'encode.schema-mismatch',
  'encode.too-large',
] as const;

export type IssueCode = (typeof ISSUE_CODES)[number];

/** One thing wrong with a record. `path` is the field (`lines[2].qty`), '' for the whole record. */
export interface Issue {
  readonly code: IssueCode;
  readonly path: string;
  readonly message: string;
  /**
   * The invariant's name, for `validate.invariant`; where the failing expression is in the
   * mapping (`upcast.steps.1.compute.amount`), for `upcast.compute-failed`.
   */
  readonly rule?: string;
}

export function stageOf(code: IssueCode): Stage {
  return code.slice(0, code.indexOf('.')) as Stage;
}

/**
 * An issue. Its path and message are bounded here, whoever built them: a path is made of
 * upstream keys (a JSON key, an Avro map key, a field name of a producer's writer schema),
 * and one key may be megabytes long — which the quarantine record would have to carry in
 * membrane's own headers. Cut here rather than where each path is built: every source, in
 * every stage, now and later, is covered by one rule; it costs a length check on the
 * refusal path only (an issue is made for a bad record, never per field of a good one).
 */
export function issue(code: IssueCode, path: string, message: string, rule?: string): Issue {
  const p = boundedPath(path);
  const m = cut(message, MAX_PATH);
  return rule === undefined ? { code, path: p, message: m } : { code, path: p, message: m, rule };
}

/** At most this many characters of one path segment (an upstream key) stay in an issue. */
export const MAX_SEGMENT = 64;
/** At most this many characters of an issue's whole path (and of its message) stay. */
export const MAX_PATH = 1024;

/**
 * `text` when it has at most `max` characters (UTF-16 code units), else its start and a
 * marker, `…(N chars)` with N its length, together exactly `max` characters long — so a text
 * already cut is not cut again. A surrogate pair is never split.
 */
export function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const marker = `…(${text.length} chars)`;
  let keep = Math.max(0, max - marker.length);
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${text.slice(0, keep)}${marker}`;
}

/**
 * An issue path with each segment — the text between `.`, `[` and `]` — cut to MAX_SEGMENT
 * characters and the whole to MAX_PATH, each cut marked `…(N chars)`. (A key with a `.` in
 * it counts as several segments here, as it reads in the path.) Linear in the path; a path
 * of at most MAX_SEGMENT characters is returned as it is.
 */
export function boundedPath(path: string): string {
  if (path.length <= MAX_SEGMENT) return path;
  let result = '';
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i === path.length ? -1 : path.charCodeAt(i);
    if (c === -1 || c === 0x2e || c === 0x5b || c === 0x5d) {
      result += cut(path.slice(start, i), MAX_SEGMENT);
      if (c !== -1) result += path.charAt(i);
      start = i + 1;
    }
  }
  return cut(result, MAX_PATH);
}

const MAX_SHOWN = 64;
// JSON.stringify gives undefined for functions and symbols; its declared type hides that.
const stringify = JSON.stringify as (value: unknown) => string | undefined;

/** A value as it may appear in an issue message: JSON, cut at 64 characters. */
export function shown(value: unknown): string {
  let text: string;
  if (typeof value === 'bigint') text = value.toString();
  else if (value === undefined) text = 'undefined';
  else {
    try {
      // JSON.stringify gives undefined for functions and symbols.
      text = stringify(value) ?? typeof value;
    } catch {
      text = typeof value;
    }
  }
  return text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN)}…(${text.length} chars)` : text;
}
