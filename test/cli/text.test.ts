import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bytesJson,
  clip,
  displayWidth,
  escapeBytes,
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
