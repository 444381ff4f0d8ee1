import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { compileWallClockFormat } from '../../src/pipeline/dates.js';

describe('compiled wall-clock formats', () => {
  it('reads the usual formats', () => {
    expect(compileWallClockFormat('dd.MM.yyyy HH:mm')?.('21.11.2026 14:05')).toBe(
      Date.UTC(2026, 10, 21, 14, 5),
    );
    expect(compileWallClockFormat('yyyyMMddHHmmssSSS')?.('20261121140509123')).toBe(
      Date.UTC(2026, 10, 21, 14, 5, 9, 123),
    );
    expect(compileWallClockFormat("yyyy-MM-dd'T'HH:mm:ss")?.('2026-11-21T14:05:09')).toBe(
      Date.UTC(2026, 10, 21, 14, 5, 9),
    );
    expect(compileWallClockFormat('d/M/yyyy')?.('2/1/1970')).toBe(Date.UTC(1970, 0, 2));
  });

  it('refuses dates that do not exist and text that does not match', () => {
    const parse = compileWallClockFormat('dd.MM.yyyy HH:mm');
    for (const bad of [
      '31.02.2026 12:00',
      '21.13.2026 12:00',
      '21.11.2026 24:01',
      '21.11.2026',
      ' 21.11.2026 14:05',
      '21-11-2026 14:05',
    ]) {
      expect(parse?.(bad), bad).toBeUndefined();
    }
  });

  it('leaves formats with other tokens to Luxon', () => {
    for (const format of [
      'dd MMM yyyy',
      'yyyy-MM-dd ZZ',
      'EEE dd.MM.yyyy',
      'HH:mm',
      'yyyyy-MM-dd',
    ]) {
      expect(compileWallClockFormat(format), format).toBeUndefined();
    }
  });

  it('agrees with Luxon on every valid and invalid input', () => {
    const format = 'dd.MM.yyyy HH:mm:ss';
    const parse = compileWallClockFormat(format);
    const pad = (n: number, w: number): string => String(n).padStart(w, '0');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 35 }),
        fc.integer({ min: 0, max: 14 }),
        // From 100: for earlier years Luxon reads 24:00:00 as the same day's midnight, a quirk
        // of its own not worth copying (the test below pins years before 100 otherwise).
        fc.integer({ min: 100, max: 9999 }),
        fc.integer({ min: 0, max: 25 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 61 }),
        (d, mo, y, h, mi, s) => {
          const text = `${pad(d, 2)}.${pad(mo, 2)}.${pad(y, 4)} ${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}`;
          const luxon = DateTime.fromFormat(text, format, { zone: 'UTC' });
          expect(parse?.(text)).toBe(luxon.isValid ? luxon.toMillis() : undefined);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('takes the end of a day (24:00:00) and years before 100 as Luxon does', () => {
    const parse = compileWallClockFormat('dd.MM.yyyy HH:mm:ss');
    for (const text of ['28.02.2024 24:00:00', '31.12.1999 24:00:00', '01.03.0050 12:00:00']) {
      expect(parse?.(text), text).toBe(
        DateTime.fromFormat(text, 'dd.MM.yyyy HH:mm:ss', { zone: 'UTC' }).toMillis(),
      );
    }
    expect(parse?.('28.02.2024 24:00:01')).toBeUndefined();
  });
});
