import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesJson,
  CELL_COLUMNS,
  clip,
  displayWidth,
  escapeBytes,
  escapeCell,
  escapeText,
  escapeValue,
  padEnd,
  safeJson,
} from '../../src/cli/text.js';

const ATTACK = '\x1b[2J\x1b[31mPWNED\x1b[0m\x07';

/** The inverse of escapeText, written from the documented syntax. */
function unescapeText(shown: string): string {
  return shown.replace(
    /\\(?:x([0-9a-f]{2})|u\{([0-9a-f]+)\}|u([0-9a-f]{4})|([\\nrt]))/g,
    (_all, x?: string, big?: string, u?: string, named?: string) => {
      if (x !== undefined) return String.fromCharCode(parseInt(x, 16));
      if (big !== undefined) return String.fromCodePoint(parseInt(big, 16));
      if (u !== undefined) return String.fromCharCode(parseInt(u, 16));
      return (
        ({ '\\': '\\', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[named ?? ''] ?? ''
      );
    },
  );
}

/** The inverse of escapeBytes: `\x80`…`\xff` are raw bytes, everything else UTF-8 text. */
function unescapeBytes(shown: string): Buffer {
  const parts: Buffer[] = [];
  const token =
    /\\x([89a-f][0-9a-f])|\\(?:x[0-7][0-9a-f]|u\{[0-9a-f]+\}|u[0-9a-f]{4}|[\\nrt])|[^\\]+/gy;
  for (const match of shown.matchAll(token)) {
    const raw = match[1];
    parts.push(
      raw === undefined
        ? Buffer.from(unescapeText(match[0]), 'utf8')
        : Buffer.from([parseInt(raw, 16)]),
    );
  }
  return Buffer.concat(parts);
}

/** Code points a terminal acts on, or that hide or reorder text (the escaped set). */
const UNSAFE = /[\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/u;

/** Any UTF-16 string, lone surrogates included. */
const anyString = fc.string({
  unit: fc.oneof(
    fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n)),
    fc.integer({ min: 0, max: 0x10ffff }).map((n) => String.fromCodePoint(n)),
    fc.constantFrom('\x1b', '\x07', '\x9b', '\u202e', '\\', '\u200b', 'a', ' ', 'é'),
  ),
  maxLength: 40,
});

describe('escapeText', () => {
  it('shows a control sequence as text a person reads, and nothing a terminal acts on', () => {
    expect(escapeText(ATTACK)).toBe('\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x07');
    expect(escapeText('a\u009b31mb')).toBe('a\\u009b31mb');
    expect(escapeText('tab\there\r\nnext')).toBe('tab\\there\\r\\nnext');
    expect(escapeText('\x00\x7f\x80\x9f')).toBe('\\x00\\x7f\\u0080\\u009f');
  });

  it('escapes the backslash, so an escape and the same characters typed in never look alike', () => {
    expect(escapeText('\\x1b')).toBe('\\\\x1b');
    expect(escapeText('\x1b')).not.toBe(escapeText('\\x1b'));
  });

  it('escapes every C0, DEL and C1 control', () => {
    for (let cp = 0; cp <= 0x9f; cp += 1) {
      if (cp >= 0x20 && cp < 0x7f) continue;
      const shown = escapeText(String.fromCharCode(cp));
      expect(shown, `U+${cp.toString(16)}`).toMatch(/^\\(x[0-7][0-9a-f]|u00[89][0-9a-f]|[nrt])$/);
    }
  });

  it('escapes bidi controls, zero-width and other invisible characters, odd spaces and separators', () => {
    const spoofing = [
      '\u202a',
      '\u202b',
      '\u202c',
      '\u202d',
      '\u202e', // embeddings and overrides
      '\u2066',
      '\u2067',
      '\u2068',
      '\u2069', // isolates
      '\u200e',
      '\u200f',
      '\u061c', // LRM, RLM, ALM
      '\u200b',
      '\u200c',
      '\u200d',
      '\u2060',
      '\ufeff',
      '\u00ad', // zero-width, BOM, soft hyphen
      '\u3164',
      '\u115f',
      '\ufe0f',
      '\u034f', // Hangul filler, variation selector, CGJ
      '\u{e0001}',
      '\u{e0041}', // tags
      '\u00a0',
      '\u2007',
      '\u3000',
      '\u2028',
      '\u2029', // spaces that are not U+0020, separators
      '\ue000',
      '\u{f0000}', // private use
      '\ud800',
      '\udfff', // lone surrogates
    ];
    for (const char of spoofing) {
      const shown = escapeText(`a${char}b`);
      expect(shown, JSON.stringify(char)).toMatch(/^a\\u(\{[0-9a-f]{5,6}\}|[0-9a-f]{4})b$/);
      expect(unescapeText(shown)).toBe(`a${char}b`);
    }
    expect(escapeText('\u202egnp.exe')).toBe('\\u202egnp.exe');
    expect(escapeText('\u{e0001}')).toBe('\\u{e0001}');
  });

  it('leaves printable text of every script alone, combining marks and the space included', () => {
    for (const text of [
      'order-42',
      'Zürich',
      'e\u0301',
      'Ωμέγα',
      '日本語',
      'עברית',
      'a b',
      '😀',
      '{"a": [1]}',
    ])
      expect(escapeText(text)).toBe(text);
  });

  it('for any string: nothing unsafe comes out, and the escaping reads back to the same string', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const shown = escapeText(text);
        expect(shown).not.toMatch(UNSAFE);
        expect(unescapeText(shown)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('escapeBytes', () => {
  it('shows UTF-8 as text and each byte that is not UTF-8 as \\xNN', () => {
    expect(escapeBytes(Buffer.from('order-é'))).toBe('order-é');
    expect(escapeBytes(Buffer.from(ATTACK))).toBe(escapeText(ATTACK));
    expect(escapeBytes(Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x28]))).toBe('\\xff\\xfeA\\xc3(');
    // a C1 control written as UTF-8 is a code point; the same byte alone is not UTF-8
    expect(escapeBytes(Buffer.from([0xc2, 0x9b, 0x9b]))).toBe('\\u009b\\x9b');
  });

  it('refuses what is not well-formed UTF-8: overlong, surrogates, past U+10FFFF, cut short', () => {
    expect(escapeBytes(Buffer.from([0xc0, 0x80]))).toBe('\\xc0\\x80');
    expect(escapeBytes(Buffer.from([0xe0, 0x80, 0xaf]))).toBe('\\xe0\\x80\\xaf');
    expect(escapeBytes(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\xed\\xa0\\x80');
    expect(escapeBytes(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe('\\xf4\\x90\\x80\\x80');
    expect(escapeBytes(Buffer.from([0x61, 0xe2, 0x82]))).toBe('a\\xe2\\x82');
    expect(escapeBytes(Buffer.from([0xe2, 0x82, 0x62, 0xe2, 0x82, 0xac]))).toBe('\\xe2\\x82b€');
  });

  it('for any bytes: nothing unsafe comes out, and the escaping reads back to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 48 }), (array) => {
        const bytes = Buffer.from(array);
        const shown = escapeBytes(bytes);
        expect(shown).not.toMatch(UNSAFE);
        expect(unescapeBytes(shown).equals(bytes)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('escapeValue takes text, bytes, or whatever JSON from a header holds', () => {
    expect(escapeValue('\x07')).toBe('\\x07');
    expect(escapeValue(Buffer.from([0xff]))).toBe('\\xff');
    expect(escapeValue(42)).toBe('42');
  });
});

describe('safeJson', () => {
  it('writes what JSON.stringify leaves raw (C1, bidi, zero-width, U+2028) as \\u escapes', () => {
    const value = { key: `${ATTACK}\u009b\u202e\u200b\u2028\x7f`, n: 1 };
    const json = safeJson(value);
    expect(json).toBe(
      '{"key":"\\u001b[2J\\u001b[31mPWNED\\u001b[0m\\u0007\\u009b\\u202e\\u200b\\u2028\\u007f","n":1}',
    );
    expect(JSON.parse(json)).toEqual(value);
    expect(safeJson({ tag: '\u{e0001}' })).toBe('{"tag":"\\udb40\\udc01"}');
    expect(safeJson({ a: ['\u202e'] }, 2)).toBe('{\n  "a": [\n    "\\u202e"\n  ]\n}');
  });

  it('for any JSON value: the same value back, and nothing unsafe but the layout newlines', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 3, stringUnit: 'binary' }),
        fc.constantFrom(undefined, 2),
        (value, indent) => {
          const json = safeJson(value, indent);
          expect(json.replaceAll('\n', '')).not.toMatch(UNSAFE);
          expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(value)));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('bytesJson', () => {
  it('gives UTF-8 as its text, anything else as base64, exactly', () => {
    expect(bytesJson(null)).toBeNull();
    expect(bytesJson(Buffer.from(ATTACK))).toBe(ATTACK);
    const binary = Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x28]);
    expect(bytesJson(binary)).toEqual({ base64: binary.toString('base64') });
  });
});

describe('displayWidth, clip, padEnd', () => {
  it('count columns by grapheme and escape, and cut between them, never inside an escape', () => {
    const shown = escapeText(ATTACK);
    expect(displayWidth(shown)).toBe(shown.length);
    expect(displayWidth('e\u0301x')).toBe(2);
    expect(displayWidth('😀')).toBe(1);
    expect(clip(shown, 6)).toBe('\\x1b[…'); // 4 + 1 + the ellipsis
    expect(clip(shown, 5)).toBe('\\x1b…');
    expect(clip(shown, 4)).toBe('…'); // the escape is longer than what is left: cut whole
    expect(clip(shown, 100)).toBe(shown);
    expect(clip('e\u0301e\u0301e\u0301', 2)).toBe('e\u0301…');
    expect(padEnd('e\u0301', 3)).toBe('e\u0301  ');
  });
});

/**
 * The pieces of escaped text as the whole-text walk found them (the reference: every run
 * between escapes segmented at once), with their columns.
 */
function referenceUnits(escaped: string): [string, number][] {
  const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
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

function referenceClip(escaped: string, max: number): string {
  const units = referenceUnits(escaped);
  if (units.reduce((sum, [, w]) => sum + w, 0) <= max) return escaped;
  let out = '';
  let used = 0;
  for (const [text, width] of units) {
    if (used + width > max - 1) break;
    out += text;
    used += width;
  }
  return `${out}…`;
}

/**
 * Text whose graphemes are long, short and joined across the windows the walk reads in:
 * combining marks by the hundred, flags (regional indicator pairs), Hangul syllables from
 * jamo, Indic conjuncts, a prepended letter, emoji, and escapes in between.
 */
const graphemeText = fc
  .array(
    fc.oneof(
      fc.constantFrom(
        'a',
        'Z',
        ' ',
        'é',
        'e\u0301',
        '\u0301',
        '🇫🇷',
        '\u{1f1eb}',
        '\u1100\u1161\u11a8',
        '\u0915\u094d\u0937',
        '\u0d4e',
        '\u0903',
        '😀',
        '👨\u200d👩',
        '\x1b',
        '\\',
        '…',
      ),
      fc
        .tuple(fc.constantFrom('a', '\u0915'), fc.integer({ min: 1, max: 300 }))
        .map(([base, n]) => base + '\u0301'.repeat(n)),
      fc.integer({ min: 1, max: 200 }).map((n) => 'x'.repeat(n)),
    ),
    { maxLength: 60 },
  )
  .map((parts) => parts.join(''));

describe('displayWidth and clip on long text', () => {
  it('walk text in windows and find the graphemes the whole-text walk finds', () => {
    fc.assert(
      fc.property(graphemeText, fc.integer({ min: 1, max: 400 }), (text, max) => {
        const shown = escapeText(text);
        const units = referenceUnits(shown);
        expect(displayWidth(shown)).toBe(units.reduce((sum, [, w]) => sum + w, 0));
        expect(clip(shown, max)).toBe(referenceClip(shown, max));
      }),
      { numRuns: 300 },
    );
  });

  it('stop at the columns asked for: a 1 MB text is clipped without walking it', () => {
    const letters = 'k'.repeat(1 << 20);
    expect(clip(letters, 10)).toBe('kkkkkkkkk…');
    expect(displayWidth(letters)).toBe(1 << 20);
    expect(clip('é'.repeat(1 << 20), 4)).toBe('ééé…');
    const zalgo = 'a' + '\u0301'.repeat(1 << 20) + 'b';
    expect(clip(zalgo, 2)).toBe(zalgo); // two graphemes, the first a megabyte long
    expect(clip(zalgo + 'c', 2)).toBe('a' + '\u0301'.repeat(1 << 20) + '…');
  });
});

describe('escapeCell', () => {
  /** What a cell shows, read back: the escapes undone, a final bare … (the cut) dropped. */
  const readBack = (cell: string): { text: string; cut: boolean } => {
    const cut = cell.endsWith('…');
    return { text: unescapeText(cut ? cell.slice(0, -1) : cell), cut };
  };

  it('escapes like escapeValue, and the ellipsis too: a bare … only ever means cut', () => {
    expect(escapeCell(ATTACK)).toBe(escapeText(ATTACK));
    expect(escapeCell(Buffer.from([0xff, 0x41]))).toBe('\\xffA');
    expect(escapeCell('to be continued…')).toBe('to be continued\\u2026');
    expect(escapeCell('to be continued…', 10)).toBe('to be con…');
    expect(escapeCell(Buffer.from('…'))).toBe('\\u2026');
  });

  it('for any text: at most the columns asked for, a prefix of the text, marked when cut', () => {
    fc.assert(
      fc.property(
        fc.oneof(anyString, graphemeText),
        fc.integer({ min: 1, max: 60 }),
        (text, max) => {
          const cell = escapeCell(text, max);
          expect(cell.replace(/…$/, '')).not.toMatch(/[\p{Cc}\u202e…]/u);
          expect(displayWidth(cell)).toBeLessThanOrEqual(max);
          const { text: shown, cut } = readBack(cell);
          expect(text.startsWith(shown)).toBe(true);
          expect(cut).toBe(shown !== text);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('caps a megabyte key at CELL_COLUMNS columns, text or bytes', () => {
    const key = 'k'.repeat(1 << 20);
    expect(escapeCell(key)).toBe(`${'k'.repeat(CELL_COLUMNS - 1)}…`);
    expect(escapeCell(Buffer.from(key))).toBe(`${'k'.repeat(CELL_COLUMNS - 1)}…`);
    expect(escapeCell(Buffer.alloc(1 << 20, 0xff))).toBe(`${'\\xff'.repeat(49)}…`);
    // One grapheme of a megabyte: what is shown of it is marked as cut.
    const zalgo = escapeCell('a' + '\u0301'.repeat(1 << 20));
    expect(zalgo.endsWith('\u0301…')).toBe(true);
    expect(zalgo.length).toBeLessThan(64 * 1024);
  });

  it('never shows half of a character where it stops reading a long value', () => {
    for (let offset = 0; offset < 4; offset += 1) {
      const pad = 'a'.repeat(offset);
      const bytes = escapeCell(Buffer.from(pad + '€😀'.repeat(1 << 16)), 1 << 20);
      expect(bytes).not.toMatch(/\\x/);
      expect(bytes.endsWith('…')).toBe(true);
      const text = escapeCell(pad + '😀'.repeat(1 << 16), 1 << 20);
      expect(text).not.toMatch(/\\u/);
      expect(readBack(text).cut).toBe(true);
      expect((pad + '😀'.repeat(1 << 16)).startsWith(readBack(text).text)).toBe(true);
    }
  });
});
