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
/**
 * In a table cell the ellipsis is escaped too (`\u2026`): a bare `…` there only ever means the
 * cell was cut (see `escapeCell`), never that the key ends in one.
 */
const UNSAFE_IN_CELL = /[\\\u2026\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/gu;
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

const escapeCellText = (text: string): string => text.replace(UNSAFE_IN_CELL, escapeChar);

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
  return escapeBytesWith(bytes, escapeText);
}

function escapeBytesWith(bytes: Buffer, escape: (text: string) => string): string {
  if (isUtf8(bytes)) return escape(bytes.toString('utf8'));
  let out = '';
  let text = 0; // start of the valid run not yet written
  let at = 0;
  while (at < bytes.length) {
    const length = sequenceLength(bytes[at] ?? 0);
    if (length > 0 && at + length <= bytes.length && isUtf8(bytes.subarray(at, at + length))) {
      at += length;
      continue;
    }
    out += escape(bytes.toString('utf8', text, at)) + `\\x${hex(bytes[at] ?? 0, 2)}`;
    at += 1;
    text = at;
  }
  return out + escape(bytes.toString('utf8', text, at));
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

/** An escape sequence, as `escapeText` and `escapeBytes` write them. */
const ESCAPE = /\\(?:x[0-9a-f]{2}|u\{[0-9a-f]+\}|u[0-9a-f]{4}|.)/y;
/** Printable ASCII but the backslash: one character, one grapheme, one column. */
const ASCII_RUN = /[\x20-\x5b\x5d-\x7e]+/y;
/** Printable ASCII only: escaped text like this is as wide as it is long. */
const ASCII_ONLY = /^[\x20-\x7e]*$/;
/**
 * Code units handed to the segmenter at once. Its iterator costs time in proportion to the
 * text it was given at every step (Node 20: walking 80,000 letters takes seconds), so it is
 * given short windows, never the whole text.
 */
const WINDOW = 64;

/**
 * The pieces of escaped text that must stay whole, with the columns each takes, one at a time
 * (a caller that has seen enough stops early): an escape sequence (as many columns as
 * characters), or one grapheme (one column). Only for text that `escapeText` or
 * `escapeBytes` made: its backslashes all start escapes.
 */
function* units(escaped: string): Generator<[text: string, width: number]> {
  let at = 0;
  while (at < escaped.length) {
    ESCAPE.lastIndex = at;
    const match = ESCAPE.exec(escaped);
    if (match) {
      yield [match[0], match[0].length];
      at = ESCAPE.lastIndex;
      continue;
    }
    const next = escaped.indexOf('\\', at + 1);
    const end = next === -1 ? escaped.length : next;
    while (at < end) {
      ASCII_RUN.lastIndex = at;
      if (ASCII_RUN.exec(escaped)) {
        // Each is a grapheme of its own, but the last may take a combining mark after it.
        const stop = ASCII_RUN.lastIndex < end ? ASCII_RUN.lastIndex - 1 : end;
        for (; at < stop; at += 1) yield [escaped.charAt(at), 1];
        if (at === end) break;
      }
      // Graphemes from a window: all but the last, which the window may have cut short
      // (unless it reaches the end). A window holding one grapheme is widened until it ends;
      // from a widened window only that grapheme is taken, so no step walks a long window.
      for (let size = WINDOW; ; size *= 2) {
        const stop = Math.min(end, at + size);
        let seen = 0;
        let pending: string | undefined;
        for (const { segment } of graphemes.segment(escaped.slice(at, stop))) {
          seen += 1;
          if (pending !== undefined) {
            yield [pending, 1];
            at += pending.length;
            pending = undefined;
            if (size > WINDOW) break;
          }
          pending = segment;
        }
        if (stop === end && pending !== undefined) {
          yield [pending, 1];
          at += pending.length;
        }
        if (stop === end || seen > 1) break;
      }
    }
  }
}

/**
 * Terminal columns of escaped text: one per grapheme (a letter with its combining marks, a
 * surrogate pair) and per character of an escape. East Asian wide characters and emoji take
 * two columns on most terminals and are counted as one here.
 */
export function displayWidth(escaped: string): number {
  if (ASCII_ONLY.test(escaped)) return escaped.length;
  let width = 0;
  for (const [, columns] of units(escaped)) width += columns;
  return width;
}

/**
 * Escaped text cut to at most `max` columns (at least 1), ending in `…` when cut (or always,
 * with `cut`: the text given is already a part); never inside an escape. Walks the text only
 * as far as `max` columns: the time it takes does not grow with the text.
 */
function cutTo(escaped: string, max: number, cut: boolean): string {
  const columns = Math.max(1, max);
  // A piece is never wider than it is long.
  if (!cut && escaped.length <= columns) return escaped;
  let used = 0;
  let at = 0;
  let fits = 0; // the end of what fits beside the ellipsis
  for (const [text, width] of units(escaped)) {
    if (used + width > columns) return `${escaped.slice(0, fits)}…`;
    used += width;
    at += text.length;
    if (used <= columns - 1) fits = at;
  }
  return cut ? `${escaped.slice(0, fits)}…` : escaped;
}

/**
 * Escaped text cut to at most `max` columns, ending in `…` when cut; never inside an escape.
 * A `…` of the text itself reads the same: `escapeCell` escapes it where that matters.
 */
export function clip(escaped: string, max: number): string {
  return cutTo(escaped, max, false);
}

/** Pads escaped text with spaces to `width` columns. */
export function padEnd(escaped: string, width: number): string {
  return escaped + ' '.repeat(Math.max(0, width - displayWidth(escaped)));
}

/** Columns a table cell takes at most, whatever it holds (a 1 MB upstream key). */
export const CELL_COLUMNS = 200;

/**
 * Code units of text (bytes of a key) a cell escapes at most: far more than `CELL_COLUMNS`
 * columns of any script take (an emoji sequence of 25 bytes is one column), so that what is
 * shown is the same as from the whole; the rest of a longer value is never looked at.
 */
const CELL_INPUT = 16 * 1024;

/**
 * Upstream text or bytes as one cell of a table: escaped like `escapeValue`, with `…` escaped
 * too (`\u2026`), and cut to at most `max` columns. A bare `…` at its end means it was cut
 * and only that. The time and memory it takes do not grow past `CELL_INPUT` with the value.
 */
export function escapeCell(value: unknown, max: number = CELL_COLUMNS): string {
  if (Buffer.isBuffer(value)) {
    if (value.length <= CELL_INPUT)
      return cutTo(escapeBytesWith(value, escapeCellText), max, false);
    // Not inside a UTF-8 sequence: its lead byte would show as an invalid byte.
    let end = CELL_INPUT;
    while (end > CELL_INPUT - 3 && ((value[end] ?? 0) & 0xc0) === 0x80) end -= 1;
    return cutTo(escapeBytesWith(value.subarray(0, end), escapeCellText), max, true);
  }
  const text = String(value);
  if (text.length <= CELL_INPUT) return cutTo(escapeCellText(text), max, false);
  // Not between the halves of a surrogate pair: the first would show as a lone surrogate.
  const high = text.charCodeAt(CELL_INPUT - 1);
  const end = high >= 0xd800 && high <= 0xdbff ? CELL_INPUT - 1 : CELL_INPUT;
  return cutTo(escapeCellText(text.slice(0, end)), max, true);
}
