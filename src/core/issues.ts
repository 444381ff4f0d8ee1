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

export function issue(code: IssueCode, path: string, message: string, rule?: string): Issue {
  return rule === undefined ? { code, path, message } : { code, path, message, rule };
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
