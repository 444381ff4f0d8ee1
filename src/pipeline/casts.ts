import { DateTime, IANAZone } from 'luxon';
import { compileWallClockFormat } from './dates.js';

/**
 * Luxon reads localized tokens (`D`, `DD`, `T`, month and weekday names) in a locale: by
 * default the host's, so one mapping would parse `3/7/2024` on one machine and refuse it on a
 * German one. Fixed to en-US, so the same input gives the same output everywhere.
 */
const FORMAT_LOCALE = { locale: 'en-US' } as const;

/** Strict casts: a value either converts exactly or fails with a reason. */
export type CastResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

const ok = (value: unknown): CastResult => ({ ok: true, value });
const fail = (reason: string): CastResult => ({ ok: false, reason });

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export function castString(value: unknown): CastResult {
  if (typeof value === 'string') return ok(value);
  if (typeof value === 'number' || typeof value === 'boolean') return ok(String(value));
  return fail(`expected text, got ${Array.isArray(value) ? 'an array' : typeof value}`);
}

function castInteger(value: unknown, min: number, max: number, kind: string): CastResult {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && INTEGER.test(value.trim())) n = Number(value.trim());
  else return fail(`expected ${kind}`);
  if (!Number.isInteger(n)) return fail(`expected ${kind}, got a fraction`);
  if (n < min || n > max) return fail(`out of range for ${kind}`);
  return ok(n);
}

export const castInt = (value: unknown): CastResult =>
  castInteger(value, INT32_MIN, INT32_MAX, 'an int (32-bit)');
export const castLong = (value: unknown): CastResult =>
  castInteger(value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 'a long (within ±2^53)');

export function castDouble(value: unknown): CastResult {
  if (typeof value === 'number')
    return Number.isFinite(value) ? ok(value) : fail('expected a finite number');
  if (typeof value === 'string' && FLOAT.test(value.trim())) return ok(Number(value.trim()));
  return fail('expected a number');
}

/**
 * An exact decimal as the integer value × 10^scale ("12.50", scale 2 → 1250). Digits that
 * would be cut off must be zeros: money never silently rounds.
 */
export function castDecimal(value: unknown, scale: number): CastResult {
  let text: string;
  if (typeof value === 'string') text = value.trim();
  else if (typeof value === 'number' && Number.isFinite(value)) text = String(value);
  else return fail('expected a decimal number');
  const match = DECIMAL.exec(text);
  if (!match) return fail('expected a decimal number like 12.50');
  const [, sign = '', whole = '', fraction = ''] = match;
  if (fraction.length > scale && /[^0]/.test(fraction.slice(scale))) {
    return fail(`has more than ${scale} decimal places`);
  }
  // Beyond 16 significant digits it cannot be a safe integer: said before BigInt parses a
  // megabyte of digits (superlinear in V8).
  const scaled = `${whole}${fraction.slice(0, scale).padEnd(scale, '0')}`;
  if (scaled.replace(/^0+/, '').length > 16) return fail('too large');
  const digits = BigInt(`${sign}${scaled}`);
  if (digits > BigInt(Number.MAX_SAFE_INTEGER) || digits < BigInt(Number.MIN_SAFE_INTEGER)) {
    return fail('too large');
  }
  return ok(Number(digits));
}

export function castBoolean(value: unknown): CastResult {
  if (typeof value === 'boolean') return ok(value);
  if (value === 'true') return ok(true);
  if (value === 'false') return ok(false);
  return fail('expected true or false (use `lookup` for other codes)');
}

/** A point in time as epoch milliseconds: ISO 8601, or `format` in `zone`; integers pass. */
export function timestampCaster(
  format: string | undefined,
  zone: string | undefined,
): (value: unknown) => CastResult {
  const utc = { zone: 'UTC', setZone: true, ...FORMAT_LOCALE };
  const options = { zone: zone ?? 'UTC', setZone: true, ...FORMAT_LOCALE };
  // Compiled once: parsing with it is many times faster than DateTime.fromFormat.
  const fast = format ? compileWallClockFormat(format) : undefined;
  const parser = format && !fast ? DateTime.buildFormatParser(format, FORMAT_LOCALE) : undefined;
  const toInstant =
    zone === undefined || zone === 'UTC' ? (wall: number) => wall : localToInstant(zone);
  return (value) => {
    if (typeof value === 'number')
      return Number.isSafeInteger(value) ? ok(value) : fail('expected epoch milliseconds');
    if (typeof value !== 'string') return fail('expected a date-time text');
    if (fast) {
      const wall = fast(value);
      return wall === undefined
        ? fail(`not a date-time in format ${format ?? ''}`)
        : ok(toInstant(wall));
    }
    if (parser) {
      // Parse the wall-clock time as if it were UTC, then place it in the zone.
      const wall = DateTime.fromFormatParser(value, parser, utc);
      if (!wall.isValid)
        return fail(
          `not a date-time in format ${format ?? ''}: ${wall.invalidExplanation ?? wall.invalidReason}`,
        );
      return ok(toInstant(wall.toMillis()));
    }
    const parsed = DateTime.fromISO(value, options);
    if (!parsed.isValid)
      return fail(
        `not a date-time (ISO 8601): ${parsed.invalidExplanation ?? parsed.invalidReason}`,
      );
    return ok(parsed.toMillis());
  };
}

const QUARTER_HOUR = 15 * 60 * 1000;

/**
 * Wall-clock milliseconds in `zone` → the instant, as Luxon does it (the earlier instant in
 * a backward change, the shifted one in a gap), with the zone's offset memoised per quarter
 * hour: Luxon asks Intl for it on every call, which dominated parsing. The offset is always
 * taken at the start of the quarter hour, so results do not depend on the order of calls.
 */
function localToInstant(zoneName: string): (wall: number) => number {
  const zone = IANAZone.create(zoneName);
  const memo = new Map<number, number>();
  const offset = (instant: number): number => {
    const quarter = Math.floor(instant / QUARTER_HOUR);
    let minutes = memo.get(quarter);
    if (minutes === undefined) {
      minutes = zone.offset(quarter * QUARTER_HOUR);
      if (memo.size > 100_000) memo.clear();
      memo.set(quarter, minutes);
    }
    return minutes;
  };
  return (wall) => {
    const o1 = offset(wall);
    let guess = wall - o1 * 60_000;
    const o2 = offset(guess);
    if (o1 === o2) return guess;
    guess -= (o2 - o1) * 60_000;
    const o3 = offset(guess);
    if (o2 === o3) return guess;
    return wall - Math.min(o2, o3) * 60_000;
  };
}

/** A calendar date as days since 1970-01-01 (Avro `date`). */
export function dateCaster(format: string | undefined): (value: unknown) => CastResult {
  const options = { zone: 'UTC', ...FORMAT_LOCALE };
  const parser = format ? DateTime.buildFormatParser(format, FORMAT_LOCALE) : undefined;
  return (value) => {
    if (typeof value !== 'string') return fail('expected a date text');
    const parsed = parser
      ? DateTime.fromFormatParser(value, parser, options)
      : DateTime.fromISO(value, options);
    if (!parsed.isValid)
      return fail(`not a date${format ? ` in format ${format}` : ' (ISO 8601)'}`);
    return ok(Math.floor(parsed.startOf('day').toMillis() / 86_400_000));
  };
}
