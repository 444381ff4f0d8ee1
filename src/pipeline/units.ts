/**
 * Unit conversion. Each unit is an exact rational multiple of its dimension's base unit;
 * the conversion ratio is reduced once at startup, so 1500 g is exactly 1.5 kg (one
 * multiplication and one correctly rounded division per value, no float noise).
 */
const UNITS: Readonly<
  Record<string, { readonly dimension: string; readonly num: bigint; readonly den: bigint }>
> = {
  mg: { dimension: 'mass', num: 1n, den: 1000n },
  g: { dimension: 'mass', num: 1n, den: 1n },
  kg: { dimension: 'mass', num: 1000n, den: 1n },
  t: { dimension: 'mass', num: 1_000_000n, den: 1n },
  oz: { dimension: 'mass', num: 28_349_523_125n, den: 1_000_000_000n },
  lb: { dimension: 'mass', num: 45_359_237n, den: 100_000n },
  mm: { dimension: 'length', num: 1n, den: 1n },
  cm: { dimension: 'length', num: 10n, den: 1n },
  m: { dimension: 'length', num: 1000n, den: 1n },
  km: { dimension: 'length', num: 1_000_000n, den: 1n },
  in: { dimension: 'length', num: 254n, den: 10n },
  ft: { dimension: 'length', num: 3048n, den: 10n },
  ml: { dimension: 'volume', num: 1n, den: 1n },
  l: { dimension: 'volume', num: 1000n, den: 1n },
  ms: { dimension: 'time', num: 1n, den: 1n },
  s: { dimension: 'time', num: 1000n, den: 1n },
  min: { dimension: 'time', num: 60_000n, den: 1n },
  h: { dimension: 'time', num: 3_600_000n, den: 1n },
  d: { dimension: 'time', num: 86_400_000n, den: 1n },
};

export const UNIT_NAMES = Object.keys(UNITS);

function gcd(a: bigint, b: bigint): bigint {
  return b === 0n ? a : gcd(b, a % b);
}

/** A converter from one unit to another; throws for unknown units or different dimensions. */
export function unitConverter(from: string, to: string): (value: number) => number {
  // Own entries only: `toString` or `__proto__` is no unit.
  const a = Object.hasOwn(UNITS, from) ? UNITS[from] : undefined;
  const b = Object.hasOwn(UNITS, to) ? UNITS[to] : undefined;
  if (!a) throw new Error(`unknown unit "${from}" (known: ${UNIT_NAMES.join(', ')})`);
  if (!b) throw new Error(`unknown unit "${to}" (known: ${UNIT_NAMES.join(', ')})`);
  if (a.dimension !== b.dimension)
    throw new Error(`cannot convert ${a.dimension} (${from}) to ${b.dimension} (${to})`);
  let num = a.num * b.den;
  let den = a.den * b.num;
  const divisor = gcd(num, den);
  num /= divisor;
  den /= divisor;
  const n = Number(num);
  const d = Number(den);
  if (d === 1) return (value) => value * n;
  return (value) => (value * n) / d;
}
