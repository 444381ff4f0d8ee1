/**
 * Objects built from data membrane does not control (upstream records, headers, mapping
 * files) are filled through here: a key is always an own data property, never a prototype
 * link. Plain assignment of `__proto__` would set the object's prototype instead — and a
 * later write through it would reach `Object.prototype`.
 */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, {
      value,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

/** Keys that reach prototype machinery when written through: never a field name. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);
