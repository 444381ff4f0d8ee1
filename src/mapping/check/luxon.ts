import { closest, distance } from 'fastest-levenshtein';

/**
 * Date formats and time zones, checked when a mapping is loaded. Luxon reads a letter it does
 * not know (`YYYY`, `A`) as literal text, so a Moment-style format parses nothing and every
 * record quarantines: here each token is checked against the tokens Luxon's parser knows, and
 * the usual Moment spellings are translated.
 */

/** One wrong token of a format: where it is in the format text, and what to write instead. */
export interface FormatProblem {
  readonly offset: number;
  readonly token: string;
  readonly message: string;
  readonly hint: string;
}

/** The tokens `DateTime.fromFormat` parses (Luxon 3, src/impl/tokenParser.js), and what they read. */
const PARSE_TOKENS: Readonly<Record<string, string>> = {
  G: 'the era (AD)',
  GG: 'the era (Anno Domini)',
  y: 'the year (1 to 6 digits)',
  yy: 'the two-digit year',
  yyyy: 'the four-digit year',
  yyyyy: 'the year (4 to 6 digits)',
  yyyyyy: 'the six-digit year',
  M: 'the month (1–12)',
  MM: 'the two-digit month (01–12)',
  MMM: 'the month name, short (Aug)',
  MMMM: 'the month name (August)',
  L: 'the month (1–12, standalone)',
  LL: 'the two-digit month (standalone)',
  LLL: 'the month name, short (standalone)',
  LLLL: 'the month name (standalone)',
  d: 'the day of the month (1–31)',
  dd: 'the two-digit day of the month (01–31)',
  o: 'the day of the year',
  ooo: 'the three-digit day of the year',
  H: 'the hour (0–23)',
  HH: 'the two-digit hour (00–23)',
  h: 'the hour on a 12-hour clock (1–12)',
  hh: 'the two-digit hour on a 12-hour clock (01–12)',
  m: 'the minute',
  mm: 'the two-digit minute',
  s: 'the second',
  ss: 'the two-digit second',
  S: 'the millisecond',
  SSS: 'the three-digit millisecond',
  u: 'the fraction of a second (milliseconds)',
  uu: 'the fraction of a second (hundredths)',
  uuu: 'the fraction of a second (tenths)',
  a: 'AM or PM',
  kk: 'the two-digit ISO week year',
  kkkk: 'the ISO week year',
  W: 'the ISO week number',
  WW: 'the two-digit ISO week number',
  E: 'the weekday number (1–7)',
  c: 'the weekday number (1–7)',
  EEE: 'the weekday, short (Tue)',
  EEEE: 'the weekday (Tuesday)',
  ccc: 'the weekday, short (standalone)',
  cccc: 'the weekday (standalone)',
  q: 'the quarter',
  qq: 'the two-digit quarter',
  Z: 'the UTC offset (+5)',
  ZZ: 'the UTC offset (+05:00)',
  ZZZ: 'the UTC offset (+0500)',
  z: 'the IANA zone name',
};

/** Luxon's macro tokens: a whole localized date or time, in the locale's own words. */
const MACRO_TOKENS = new Set([
  'D',
  'DD',
  'DDD',
  'DDDD',
  't',
  'tt',
  'ttt',
  'tttt',
  'T',
  'TT',
  'TTT',
  'TTTT',
  'f',
  'ff',
  'fff',
  'ffff',
  'F',
  'FF',
  'FFF',
  'FFFF',
]);

/** Moment.js / Java spellings authors bring along, and the Luxon token meant. */
const MOMENT: Readonly<Record<string, string>> = {
  YYYY: 'yyyy',
  YY: 'yy',
  Y: 'y',
  YYYYY: 'yyyyy',
  DD: 'dd',
  D: 'd',
  Do: 'd',
  DDD: 'o',
  DDDD: 'ooo',
  dddd: 'EEEE',
  ddd: 'EEE',
  A: 'a',
  SS: 'SSS',
  SSSS: 'SSS',
  SSSSSS: 'SSS',
  ZZZZ: 'ZZZ',
  X: '(epoch seconds)',
  x: '(epoch milliseconds)',
  e: 'E',
  w: 'W',
  ww: 'WW',
  GGGG: 'kkkk',
  gggg: 'kkkk',
  Q: 'q',
  N: 'G',
  NN: 'G',
};

const EXAMPLES: Readonly<Record<string, string>> = {
  date: 'Aug 6, 2014',
  time: '09:07',
  'date and time': '8/6/2014, 9:07 AM',
};

interface Token {
  readonly text: string;
  readonly offset: number;
}

/** The letter runs of a format outside quotes, as Luxon's Formatter.parseFormat splits them. */
function letterTokens(format: string): Token[] {
  const tokens: Token[] = [];
  let quoted = false;
  let i = 0;
  while (i < format.length) {
    const char = format.charAt(i);
    if (char === "'") {
      quoted = !quoted;
      i += 1;
      continue;
    }
    let end = i + 1;
    while (!quoted && end < format.length && format.charAt(end) === char) end += 1;
    if (!quoted && /[A-Za-z]/.test(char)) tokens.push({ text: format.slice(i, end), offset: i });
    i = quoted ? i + 1 : end;
  }
  return tokens;
}

const quote = (token: string): string => `\`${token}\``;

/**
 * What is wrong with a Luxon `format` for `as: timestamp` or `as: date`: tokens Luxon does not
 * parse (it would look for them as literal text), Moment spellings, a 12-hour clock without
 * AM/PM. Empty when it is fine.
 */
export function luxonFormatProblems(format: string): FormatProblem[] {
  const problems: FormatProblem[] = [];
  const tokens = letterTokens(format);
  const has = (letters: RegExp): boolean => tokens.some((t) => letters.test(t.text));
  // Parts of a date (Moment's YYYY too) and of a time, written with their own tokens.
  const hasDateParts = has(/^(y+|Y+|M+|L+|d+|k+|W+|o+)$/);
  const hasTimeParts = has(/^(H+|h+|m+|s+)$/);
  const unterminated = (format.match(/'/g)?.length ?? 0) % 2 === 1;
  if (unterminated) {
    problems.push({
      offset: format.lastIndexOf("'"),
      token: "'",
      message: 'the quote that starts literal text is never closed',
      hint: "close it with another ' (write '' for a quote character)",
    });
  }
  for (const { text, offset } of tokens) {
    const moment = MOMENT[text];
    if (MACRO_TOKENS.has(text)) {
      // `DD` beside a month or year is Moment's day; alone, or beside only the parts of a
      // time (`D HH:mm`), it is Luxon's localized date, which Luxon parses. Likewise `T` beside
      // only the parts of a date (`dd.MM.yyyy T`) is its localized time.
      const what = /^D/.test(text) ? 'date' : /^[tT]/.test(text) ? 'time' : 'date and time';
      const overlaps =
        what === 'date'
          ? hasDateParts
          : what === 'time'
            ? hasTimeParts
            : hasDateParts || hasTimeParts;
      if (!overlaps) continue;
      problems.push({
        offset,
        token: text,
        message: `${quote(text)} is not a part of a date in Luxon: it is a whole localized ${what} (like "${EXAMPLES[what]}")`,
        hint:
          moment !== undefined
            ? `use ${quote(moment)} for ${PARSE_TOKENS[moment] ?? 'it'}`
            : 'write the parts with their own tokens, e.g. dd.MM.yyyy HH:mm',
      });
      continue;
    }
    if (Object.hasOwn(PARSE_TOKENS, text)) continue;
    const known = Object.keys(PARSE_TOKENS);
    const meant =
      moment ?? known.find((k) => k.toLowerCase() === text.toLowerCase()) ?? closest(text, known);
    problems.push({
      offset,
      token: text,
      message: `${quote(text)} is not a Luxon token (Luxon would expect the literal text "${text}")`,
      hint: meant.startsWith('(')
        ? `${quote(text)} is Moment's ${meant.slice(1, -1)}; Luxon cannot parse them, but without \`format\` an integer is read as epoch milliseconds`
        : `use ${quote(meant)} for ${PARSE_TOKENS[meant] ?? 'it'}; literal text goes in single quotes, like 'T'`,
    });
  }
  const twelveHour = tokens.find((t) => t.text === 'h' || t.text === 'hh');
  if (twelveHour && !tokens.some((t) => t.text === 'a')) {
    problems.push({
      offset: twelveHour.offset,
      token: twelveHour.text,
      message: `${quote(twelveHour.text)} is the hour on a 12-hour clock (01–12), and the format has no \`a\` (AM/PM): 13:00 would not parse`,
      hint: `use ${quote(twelveHour.text.toUpperCase())} for the hour 00–23, or add \`a\``,
    });
  }
  return problems.sort((a, b) => a.offset - b.offset);
}

let zones: readonly string[] | undefined;

/** The IANA zones this Node knows. */
function knownZones(): readonly string[] {
  zones ??= Intl.supportedValuesOf('timeZone');
  return zones;
}

/** Whether Intl (and so Luxon) knows `zone`: an IANA name, UTC, or a fixed offset it accepts. */
export function isKnownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** What is wrong with a `zone`, with the nearest IANA name; undefined when Intl knows it. */
export function zoneProblem(zone: string): { message: string; hint: string } | undefined {
  if (isKnownZone(zone)) return undefined;
  const all = knownZones();
  const byCity = all.filter((z) => z.split('/')[0] === zone.split('/')[0]);
  const nearest = closest(zone, byCity.length > 0 ? byCity : [...all]);
  const close = distance(zone.toLowerCase(), nearest.toLowerCase()) <= Math.max(2, zone.length / 4);
  return {
    message: `unknown time zone "${zone}"`,
    hint: close
      ? `did you mean ${nearest}? zones are IANA names like Europe/Berlin`
      : 'zones are IANA names like Europe/Berlin, America/New_York or UTC',
  };
}
