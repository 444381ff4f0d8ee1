import { Settings } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  castBoolean,
  castDecimal,
  castDouble,
  castInt,
  castLong,
  castString,
  dateCaster,
  timestampCaster,
} from '../../src/pipeline/casts.js';

const value = (r: ReturnType<typeof castInt>): unknown => (r.ok ? r.value : `fail: ${r.reason}`);

describe('strict casts', () => {
  it('int: whole numbers in 32 bits only', () => {
    expect(value(castInt('42'))).toBe(42);
    expect(value(castInt(' -7 '))).toBe(-7);
    expect(value(castInt(3))).toBe(3);
    for (const bad of ['4.2', '1e3', '', 'two', '2147483648', 1.5, null, true])
      expect(castInt(bad).ok, String(bad)).toBe(false);
  });

  it('long: within ±2^53', () => {
    expect(value(castLong('9007199254740991'))).toBe(9007199254740991);
    expect(castLong('9007199254740992').ok).toBe(false);
  });

  it('decimal: exact, scaled, never rounding money away', () => {
    expect(value(castDecimal('149.90', 2))).toBe(14990);
    expect(value(castDecimal('10', 2))).toBe(1000);
    expect(value(castDecimal('-0.5', 2))).toBe(-50);
    expect(value(castDecimal('1.500', 2))).toBe(150);
    expect(value(castDecimal(12.5, 2))).toBe(1250);
    expect(value(castDecimal('0000000000000000000000.000000000000000005', 20))).toBe(500);
    expect(castDecimal('1'.repeat(1_000_000), 2)).toEqual(castDecimal('1'.repeat(17), 0));
    expect(castDecimal('1'.repeat(17), 0)).toMatchObject({ ok: false });
    expect(castDecimal('1.005', 2)).toEqual({
      ok: false,
      reason: 'has more than 2 decimal places',
    });
    for (const bad of ['1,50', '1.2.3', 'EUR 5', '', '1e3', '.5'])
      expect(castDecimal(bad, 2).ok, bad).toBe(false);
  });

  it('double, boolean, string', () => {
    expect(value(castDouble('1.5e3'))).toBe(1500);
    expect(castDouble('NaN').ok).toBe(false);
    expect(value(castBoolean('true'))).toBe(true);
    expect(castBoolean('Y').ok).toBe(false);
    expect(value(castString(12))).toBe('12');
    expect(castString({}).ok).toBe(false);
  });

  it('timestamp: a local time in a zone, across a daylight-saving change', () => {
    const berlin = timestampCaster('dd.MM.yyyy HH:mm', 'Europe/Berlin');
    expect(value(berlin('21.11.2026 14:05'))).toBe(Date.UTC(2026, 10, 21, 13, 5)); // CET, UTC+1
    expect(value(berlin('01.07.2026 12:00'))).toBe(Date.UTC(2026, 6, 1, 10, 0)); // CEST, UTC+2
    expect(berlin('31.02.2026 12:00').ok).toBe(false);
    expect(berlin('2026-11-21').ok).toBe(false);
    const iso = timestampCaster(undefined, undefined);
    expect(value(iso('2026-11-21T13:05:00Z'))).toBe(Date.UTC(2026, 10, 21, 13, 5));
    expect(value(iso(1763800000000))).toBe(1763800000000);
  });

  it('date: days since the epoch', () => {
    expect(value(dateCaster('dd.MM.yyyy')('02.01.1970'))).toBe(1);
    expect(value(dateCaster(undefined)('2026-11-22'))).toBe(Date.UTC(2026, 10, 22) / 86_400_000);
  });
});

describe('localized date formats', () => {
  it('read in en-US whatever the host’s locale, so every machine translates alike', () => {
    const before = Settings.defaultLocale;
    Settings.defaultLocale = 'de-DE';
    try {
      expect(dateCaster('D')('3/7/2024')).toEqual({ ok: true, value: 19789 });
      expect(timestampCaster('D HH:mm', 'UTC')('3/7/2024 15:04')).toEqual({
        ok: true,
        value: Date.UTC(2024, 2, 7, 15, 4),
      });
    } finally {
      Settings.defaultLocale = before;
    }
  });
});
