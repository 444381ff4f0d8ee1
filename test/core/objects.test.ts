import { describe, expect, it } from 'vitest';
import { setOwn } from '../../src/core/objects.js';

describe('setOwn', () => {
  it('makes `__proto__` an own data property, never a prototype link', () => {
    const target: Record<string, unknown> = {};
    setOwn(target, '__proto__', { polluted: 'yes' });
    setOwn(target, 'constructor', 'c');
    setOwn(target, 'a', 1);
    expect(Object.getPrototypeOf(target)).toBe(Object.prototype);
    expect(Object.keys(target)).toEqual(['__proto__', 'constructor', 'a']);
    expect(Object.getOwnPropertyDescriptor(target, '__proto__')?.value).toEqual({
      polluted: 'yes',
    });
    expect(target['polluted']).toBeUndefined();
    expect(JSON.stringify(target)).toBe('{"__proto__":{"polluted":"yes"},"constructor":"c","a":1}');
    setOwn(target, '__proto__', 2);
    expect(Object.getOwnPropertyDescriptor(target, '__proto__')?.value).toBe(2);
  });
});
