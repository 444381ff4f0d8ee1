import { isUtf8 } from 'node:buffer';

/**
 * Upstream text on an operator's terminal. Keys, header names and values, topic names and
 * messages that quote upstream data come from systems we do not control: printed raw, an
 * ESC or CSI (U+009B) starts a control sequence that clears or recolours the screen, a BEL
 * rings, a bidi override (U+202E) reorders what the line says, a zero-width character makes
 * two different keys look the same, and bytes that are not UTF-8 print as mojibake.
 *
 * What is escaped (one rule, taken from Unicode's own data in the regex engine, not a list
 * kept by hand): every code point that is not printable in the sense of Python's
 * `str.isprintable()` — general categories C (Cc controls: C0, DEL, C1; Cf format: bidi
 * embeddings, overrides and isolates, LRM/RLM/ALM, zero-width space and joiners, word
 * joiner, BOM, soft hyphen, tags; Cs lone surrogates; Co private use; Cn unassigned) and Z
 * (separators) except the space — plus the Default_Ignorable_Code_Point characters that
 * Unicode says render as nothing (Hangul fillers, variation selectors, the combining
 * grapheme joiner), and the backslash itself, so that every escape reads one way only.
 *
 * How (the syntax of a JavaScript string literal: escaped text pastes back into code as is):
 * `\\` a backslash; `\n`, `\r`, `\t`; `\xNN` (NN below 80) another ASCII control;
 * `\uNNNN` or `\u{NNNNN}` any other escaped code point; and `\xNN` with NN 80 to ff a byte
 * that is not part of valid UTF-8 (every such byte is one of those: ASCII is always valid).
 *
 * Not escaped: letters and marks of every script, including combining marks and
 * look-alikes (Cyrillic а for Latin a). They cannot move the cursor or hide themselves;
 * `--json` gives the exact code points when that matters.
 */
const UNSAFE = /[\\\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/gu;
/** What JSON.stringify leaves raw that a terminal must not see raw (it escapes C0, `"`, `\`, lone surrogates). */
const JSON_UNSAFE = /[\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/gu;

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

const NAMED: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

function escapeChar(char: string): string {
  const named = NAMED[char];
  if (named !== undefined) return named;
  const cp = char.codePointAt(0) ?? 0;
  if (cp < 0x80) return `\\x${hex(cp, 2)}`;
  if (cp <= 0xffff) return `\\u${hex(cp, 4)}`;
  return `\\u{${hex(cp, 5)}}`;
}

/** `text` with every unsafe code point escaped: safe to print to a terminal, and unambiguous. */
export function escapeText(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** The length of the UTF-8 sequence a lead byte starts, or 0 when it cannot start one. */
function sequenceLength(lead: number): number {
  if (lead < 0x80) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/**
 * Bytes for a terminal: valid UTF-8 as text (escaped like `escapeText`), each byte that is not
 * part of a well-formed UTF-8 sequence as `\xNN`. Node's own validator decides what is
 * well-formed (overlong forms, surrogates, code points past U+10FFFF are not).
 */
export function escapeBytes(bytes: Buffer): string {
  if (isUtf8(bytes)) return escapeText(bytes.toString('utf8'));
  let out = '';
  let text = 0; // start of the valid run not yet written
  let at = 0;
  while (at < bytes.length) {
    const length = sequenceLength(bytes[at] ?? 0);
    if (length > 0 && at + length <= bytes.length && isUtf8(bytes.subarray(at, at + length))) {
      at += length;
      continue;
    }
    out += escapeText(bytes.toString('utf8', text, at)) + `\\x${hex(bytes[at] ?? 0, 2)}`;
    at += 1;
    text = at;
  }
  return out + escapeText(bytes.toString('utf8', text, at));
}

/**
 * Raw bytes or text, escaped for a terminal. Anything else (a number where JSON from a header
 * was meant to hold text) as its `String`.
 */
export function escapeValue(value: unknown): string {
  return Buffer.isBuffer(value) ? escapeBytes(value) : escapeText(String(value));
}

function jsonEscape(char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i += 1) out += `\\u${hex(char.charCodeAt(i), 4)}`;
  return out;
}

/**
 * JSON that is safe on a terminal and still exact: `JSON.stringify`, with the code points it
 * leaves raw that `escapeText` would escape (DEL, C1 such as U+009B, bidi controls,
 * zero-width characters, U+2028…) written as `\uNNNN` escapes. Parsing it gives the same
 * value, code point for code point.
 */
export function safeJson(value: unknown, indent?: number): string {
  const json = JSON.stringify(value, null, indent) as string | undefined;
  if (json === undefined) throw new TypeError('safeJson: the value has no JSON form');
  // Outside strings JSON.stringify writes only ASCII (a newline and spaces when indenting),
  // inside them it escapes every C0 control: a raw newline here is the layout, kept.
  return json.replace(JSON_UNSAFE, (char) => (char === '\n' ? char : jsonEscape(char)));
}

/**
 * Bytes in JSON, exactly: the text when they are valid UTF-8, else `{ "base64": … }`; null
 * stays null.
 */
export function bytesJson(bytes: Buffer | null): string | { base64: string } | null {
  if (bytes === null) return null;
  return isUtf8(bytes) ? bytes.toString('utf8') : { base64: bytes.toString('base64') };
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The pieces of escaped text that must stay whole, with the columns each takes: an escape
 * sequence (as many columns as characters), or one grapheme (one column). Only for text that
 * `escapeText` or `escapeBytes` made: its backslashes all start escapes.
 */
function units(escaped: string): [text: string, width: number][] {
  const out: [string, number][] = [];
  const escape = /\\(?:x[0-9a-f]{2}|u\{[0-9a-f]+\}|u[0-9a-f]{4}|.)/y;
  let at = 0;
  while (at < escaped.length) {
    escape.lastIndex = at;
    const match = escape.exec(escaped);
    if (match) {
      out.push([match[0], match[0].length]);
      at = escape.lastIndex;
      continue;
    }
    const next = escaped.indexOf('\\', at + 1);
    const end = next === -1 ? escaped.length : next;
    for (const { segment } of graphemes.segment(escaped.slice(at, end))) out.push([segment, 1]);
    at = end;
  }
  return out;
}

/**
 * Terminal columns of escaped text: one per grapheme (a letter with its combining marks, a
 * surrogate pair) and per character of an escape. East Asian wide characters and emoji take
 * two columns on most terminals and are counted as one here.
 */
export function displayWidth(escaped: string): number {
  return units(escaped).reduce((sum, [, width]) => sum + width, 0);
}

/** Escaped text cut to at most `max` columns, ending in `…` when cut; never inside an escape. */
export function clip(escaped: string, max: number): string {
  if (displayWidth(escaped) <= max) return escaped;
  let out = '';
  let used = 0;
  for (const [text, width] of units(escaped)) {
    if (used + width > max - 1) break;
    out += text;
    used += width;
  }
  return `${out}…`;
}

/** Pads escaped text with spaces to `width` columns. */
export function padEnd(escaped: string, width: number): string {
  return escaped + ' '.repeat(Math.max(0, width - displayWidth(escaped)));
}
