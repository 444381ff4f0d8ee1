import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { isKnownZone, luxonFormatProblems, zoneProblem } from '../../../src/mapping/check/luxon.js';

describe('Luxon formats', () => {
  it('accepts the formats upstream systems use, as Luxon parses them', () => {
    for (const format of [
      'dd.MM.yyyy HH:mm',
      "yyyy-MM-dd'T'HH:mm:ss.SSSZZ",
      'yyyyMMddHHmmss',
      'd/M/yy h:mm a',
      'EEE, dd MMM yyyy HH:mm:ss z',
      "dd.MM.yyyy 'um' HH:mm",
      'DD', // alone: Luxon's localized date, on purpose
      'D HH:mm', // the localized date, then the time
      'dd.MM.yyyy T', // the date, then the localized 24-hour time
    ]) {
      expect(luxonFormatProblems(format), format).toEqual([]);
    }
    // The localized macros as Luxon parses them (en-US, as the machine's default may differ).
    const utc = { zone: 'UTC', locale: 'en-US' };
    expect(DateTime.fromFormat('3/7/2024 15:04', 'D HH:mm', utc).toISO()).toBe(
      '2024-03-07T15:04:00.000Z',
    );
    expect(DateTime.fromFormat('07.03.2024 15:04', 'dd.MM.yyyy T', utc).toISO()).toBe(
      '2024-03-07T15:04:00.000Z',
    );
    expect(luxonFormatProblems('D.M.yyyy HH:mm').map((p) => p.token)).toEqual(['D']);
    expect(luxonFormatProblems('HH:mm t').map((p) => p.token)).toEqual(['t']);
    expect(DateTime.fromFormat('06.08.2014 13:05', 'dd.MM.yyyy HH:mm').isValid).toBe(true);
  });

  it('names each Moment-style token, where it is, with the Luxon token meant', () => {
    expect(luxonFormatProblems('DD.MM.YYYY hh:mm:ss')).toEqual([
      {
        offset: 0,
        token: 'DD',
        message:
          '`DD` is not a part of a date in Luxon: it is a whole localized date (like "Aug 6, 2014")',
        hint: 'use `dd` for the two-digit day of the month (01–31)',
      },
      {
        offset: 6,
        token: 'YYYY',
        message: '`YYYY` is not a Luxon token (Luxon would expect the literal text "YYYY")',
        hint: "use `yyyy` for the four-digit year; literal text goes in single quotes, like 'T'",
      },
      {
        offset: 11,
        token: 'hh',
        message:
          '`hh` is the hour on a 12-hour clock (01–12), and the format has no `a` (AM/PM): 13:00 would not parse',
        hint: 'use `HH` for the hour 00–23, or add `a`',
      },
    ]);
    // What Luxon itself does with it: no error, no parse.
    expect(DateTime.fromFormat('06.08.2014 13:05:00', 'DD.MM.YYYY hh:mm:ss').isValid).toBe(false);
  });

  it('translates more Moment spellings, and says when there is no Luxon token', () => {
    const hints = (format: string): string[] => luxonFormatProblems(format).map((p) => p.hint);
    expect(hints('Do MMMM YYYY, dddd')).toEqual([
      'use `d` for the day of the month (1–31)',
      "use `yyyy` for the four-digit year; literal text goes in single quotes, like 'T'",
      "use `EEEE` for the weekday (Tuesday); literal text goes in single quotes, like 'T'",
    ]);
    expect(hints('yyyy-MM-dd HH:mm A')).toEqual([
      "use `a` for AM or PM; literal text goes in single quotes, like 'T'",
    ]);
    expect(hints('X')).toEqual([
      "`X` is Moment's epoch seconds; Luxon cannot parse them, but without `format` an integer is read as epoch milliseconds",
    ]);
  });

  it('leaves quoted text alone and names a quote that is never closed', () => {
    expect(luxonFormatProblems("yyyy-MM-dd'T'HH:mm 'Uhr'")).toEqual([]);
    expect(luxonFormatProblems("yyyy-MM-dd'T HH:mm")).toEqual([
      {
        offset: 10,
        token: "'",
        message: 'the quote that starts literal text is never closed',
        hint: "close it with another ' (write '' for a quote character)",
      },
    ]);
  });
});

describe('zones', () => {
  it('knows IANA names, UTC and fixed offsets', () => {
    expect(isKnownZone('Europe/Berlin')).toBe(true);
    expect(isKnownZone('UTC')).toBe(true);
    expect(zoneProblem('America/New_York')).toBeUndefined();
  });

  it('suggests the nearest zone for a misspelled one, and explains a name far from any', () => {
    expect(zoneProblem('Europe/Berln')).toEqual({
      message: 'unknown time zone "Europe/Berln"',
      hint: 'did you mean Europe/Berlin? zones are IANA names like Europe/Berlin',
    });
    expect(zoneProblem('Amerika/Chicago')?.hint).toBe(
      'did you mean America/Chicago? zones are IANA names like Europe/Berlin',
    );
    expect(zoneProblem('Mars/Olympus')).toEqual({
      message: 'unknown time zone "Mars/Olympus"',
      hint: 'zones are IANA names like Europe/Berlin, America/New_York or UTC',
    });
  });
});
