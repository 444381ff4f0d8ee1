/** Unit conversion by factor to a base unit per dimension; checked once at startup. */
const UNITS: Readonly<Record<string, { readonly dimension: string; readonly factor: number }>> = {
  mg: { dimension: 'mass', factor: 1e-6 },
  g: { dimension: 'mass', factor: 1e-3 },
  kg: { dimension: 'mass', factor: 1 },
  t: { dimension: 'mass', factor: 1e3 },
  oz: { dimension: 'mass', factor: 0.028349523125 },
  lb: { dimension: 'mass', factor: 0.45359237 },
  mm: { dimension: 'length', factor: 1e-3 },
  cm: { dimension: 'length', factor: 1e-2 },
  m: { dimension: 'length', factor: 1 },
  km: { dimension: 'length', factor: 1e3 },
  in: { dimension: 'length', factor: 0.0254 },
  ft: { dimension: 'length', factor: 0.3048 },
  ml: { dimension: 'volume', factor: 1e-3 },
  l: { dimension: 'volume', factor: 1 },
  ms: { dimension: 'time', factor: 1e-3 },
  s: { dimension: 'time', factor: 1 },
  min: { dimension: 'time', factor: 60 },
  h: { dimension: 'time', factor: 3600 },
  d: { dimension: 'time', factor: 86400 },
};

export const UNIT_NAMES = Object.keys(UNITS);

/** A converter from one unit to another; throws for unknown units or different dimensions. */
export function unitConverter(from: string, to: string): (value: number) => number {
  const a = UNITS[from];
  const b = UNITS[to];
  if (!a) throw new Error(`unknown unit "${from}" (known: ${UNIT_NAMES.join(', ')})`);
  if (!b) throw new Error(`unknown unit "${to}" (known: ${UNIT_NAMES.join(', ')})`);
  if (a.dimension !== b.dimension)
    throw new Error(`cannot convert ${a.dimension} (${from}) to ${b.dimension} (${to})`);
  const factor = a.factor / b.factor;
  // 15 significant digits: 1500 g is 1.5 kg, not 1.5000000000000002.
  return (value) => Number((value * factor).toPrecision(15));
}
