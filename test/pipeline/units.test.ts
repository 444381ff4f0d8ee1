import { describe, expect, it } from 'vitest';
import { unitConverter } from '../../src/pipeline/units.js';

describe('unit conversion', () => {
  it('converts within a dimension without float noise', () => {
    expect(unitConverter('g', 'kg')(1500)).toBe(1.5);
    expect(unitConverter('lb', 'kg')(1)).toBe(0.45359237);
    expect(unitConverter('min', 's')(2)).toBe(120);
    expect(unitConverter('cm', 'mm')(0.1)).toBe(1);
  });

  it('refuses other dimensions and unknown units', () => {
    expect(() => unitConverter('g', 'm')).toThrow('cannot convert mass (g) to length (m)');
    expect(() => unitConverter('stone', 'kg')).toThrow(/unknown unit "stone"/);
  });

  it('knows no unit called like an Object.prototype member', () => {
    expect(() => unitConverter('toString', 'toString')).toThrow(/unknown unit "toString"/);
    expect(() => unitConverter('kg', '__proto__')).toThrow(/unknown unit "__proto__"/);
  });
});
