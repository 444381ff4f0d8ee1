import { describe, expect, it } from 'vitest';
import { compilePath, getPath, setPath } from '../../src/pipeline/paths.js';

describe('field paths', () => {
  it('compile into key lists and refuse prototype names as segments', () => {
    expect(compilePath('lines[2].sku')).toEqual(['lines', 2, 'sku']);
    for (const path of ['__proto__.x', 'a.constructor.prototype', 'prototype[0]'])
      expect(() => compilePath(path)).toThrow(/reserved name/);
  });

  it('never write through a prototype, even given one (defence in depth)', () => {
    const root: Record<string, unknown> = {};
    setPath(root, ['__proto__', 'polluted'], 'yes');
    setPath(root, ['constructor', 'prototype', 'polluted'], 'yes');
    setPath(root, ['toString', 'polluted'], 'yes');
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(Object.getPrototypeOf(root)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(root))).toEqual(
      JSON.parse(
        '{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"toString":{"polluted":"yes"}}',
      ),
    );
    expect(getPath(root, ['toString', 'polluted'])).toBe('yes');
  });
});
