/**
 * A fast path for the date-time formats upstream systems actually use (`dd.MM.yyyy HH:mm`,
 * `yyyyMMddHHmmss`, …): the format is compiled once into a regular expression, and a match
 * becomes wall-clock milliseconds with Date.UTC. Formats with other tokens return undefined,
 * and the caller uses Luxon's own (slower) parser, which accepts every Luxon token.
 */
const TOKENS: Readonly<Record<string, { readonly pattern: string; readonly field: Field }>> = {
  yyyy: { pattern: '(\\d{4})', field: 'year' },
  MM: { pattern: '(\\d{2})', field: 'month' },
  M: { pattern: '(\\d{1,2})', field: 'month' },
  dd: { pattern: '(\\d{2})', field: 'day' },
  d: { pattern: '(\\d{1,2})', field: 'day' },
  HH: { pattern: '(\\d{2})', field: 'hour' },
  H: { pattern: '(\\d{1,2})', field: 'hour' },
  mm: { pattern: '(\\d{2})', field: 'minute' },
  m: { pattern: '(\\d{1,2})', field: 'minute' },
  ss: { pattern: '(\\d{2})', field: 'second' },
  s: { pattern: '(\\d{1,2})', field: 'second' },
  SSS: { pattern: '(\\d{3})', field: 'millisecond' },
};
type Field = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second' | 'millisecond';

// Longest tokens first, so `yyyy` is not read as something shorter.
const TOKEN_NAMES = Object.keys(TOKENS).sort((a, b) => b.length - a.length);

/** Wall-clock milliseconds (the local time read as if it were UTC), or undefined if invalid. */
export type WallClockParser = (text: string) => number | undefined;

export function compileWallClockFormat(format: string): WallClockParser | undefined {
  let pattern = '^';
  const fields: Field[] = [];
  let i = 0;
  while (i < format.length) {
    const char = format.charAt(i);
    if (char === "'") {
      const end = format.indexOf("'", i + 1);
      if (end === -1) return undefined;
      pattern += escape(format.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    if (/[A-Za-z]/.test(char)) {
      const name = TOKEN_NAMES.find((token) => format.startsWith(token, i));
      const token = name === undefined ? undefined : TOKENS[name];
      if (name === undefined || token === undefined) return undefined;
      // A letter right after a token of the same letter (`yyyyy`) is not ours to guess.
      if (format.charAt(i + name.length) === char) return undefined;
      pattern += token.pattern;
      fields.push(token.field);
      i += name.length;
      continue;
    }
    pattern += escape(char);
    i += 1;
  }
  if (!fields.includes('year') || !fields.includes('month') || !fields.includes('day'))
    return undefined;
  if (new Set(fields).size !== fields.length) return undefined;
  const regex = new RegExp(`${pattern}$`);
  const at = (field: Field): number => fields.indexOf(field) + 1;
  const [year, month, day, hour, minute, second, millisecond] = (
    ['year', 'month', 'day', 'hour', 'minute', 'second', 'millisecond'] as const
  ).map(at);
  return (text) => {
    const match = regex.exec(text);
    if (!match) return undefined;
    const y = Number(match[year ?? 0]);
    const mo = Number(match[month ?? 0]);
    const d = Number(match[day ?? 0]);
    const h = hour ? Number(match[hour]) : 0;
    const mi = minute ? Number(match[minute]) : 0;
    const s = second ? Number(match[second]) : 0;
    const ms = millisecond ? Number(match[millisecond]) : 0;
    // 24:00:00 is the end of the day (ISO 8601, and Luxon): the next day's midnight.
    const endOfDay = h === 24 && mi === 0 && s === 0 && ms === 0;
    if (mo < 1 || mo > 12 || d < 1 || (h > 23 && !endOfDay) || mi > 59 || s > 59) return undefined;
    // setUTCFullYear, unlike Date.UTC, takes years 0–99 as they are (not as 1900–1999).
    const at = new Date(0);
    at.setUTCFullYear(y, mo - 1, d);
    // …and rolls 31.02. over into March: refuse what does not exist.
    if (at.getUTCDate() !== d) return undefined;
    return at.setUTCHours(h, mi, s, ms);
  };
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
