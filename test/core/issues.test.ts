import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import {
  boundedPath,
  cut,
  issue,
  ISSUE_CODES,
  MAX_PATH,
  MAX_SEGMENT,
  shown,
  STAGES,
  stageOf,
} from '../../src/core/issues.js';

describe('issue codes', () => {
  it('each belongs to a stage, and every code is unique', () => {
    for (const code of ISSUE_CODES) expect(STAGES).toContain(stageOf(code));
    expect(new Set(ISSUE_CODES).size).toBe(ISSUE_CODES.length);
  });

  it('show offending values as JSON, cut at 64 characters', () => {
    expect(shown('two')).toBe('"two"');
    expect(shown(12n)).toBe('12');
    expect(shown(undefined)).toBe('undefined');
    expect(shown('x'.repeat(100))).toMatch(/^"x{63}…\(102 chars\)$/);
  });
});

describe('issue paths and messages are bounded, whatever upstream keys they are made of', () => {
  it('cuts a text to exactly its bound, marked with its length, and never twice', () => {
    expect(cut('abc', 3)).toBe('abc');
    expect(cut('a'.repeat(100), 20)).toBe(`${'a'.repeat(8)}…(100 chars)`);
    expect(cut('a'.repeat(100), 20)).toHaveLength(20);
    expect(cut(cut('a'.repeat(100), 20), 20)).toBe(cut('a'.repeat(100), 20));
    // A surrogate pair is kept whole or left out, never split.
    expect(cut(`${'a'.repeat(7)}😀${'b'.repeat(91)}`, 20)).toBe(`${'a'.repeat(7)}…(100 chars)`);
  });

  it('cuts each segment of a path at 64 characters and the path at 1 KiB', () => {
    expect(boundedPath('lines[2].qty')).toBe('lines[2].qty');
    const long = 'k'.repeat(3 * 1024 * 1024);
    expect(boundedPath(`${long}.__proto__`)).toBe(`${'k'.repeat(48)}…(3145728 chars).__proto__`);
    expect(boundedPath(`a[${long}].b`)).toBe(`a[${'k'.repeat(48)}…(3145728 chars)].b`);
    // Segments of at most 64 characters stay; the whole is cut at 1,024, marked.
    const segment = 's'.repeat(MAX_SEGMENT);
    const path = Array.from({ length: 20 }, () => segment).join('.');
    expect(path).toHaveLength(1299);
    expect(boundedPath(path)).toBe(`${path.slice(0, MAX_PATH - 13)}…(1299 chars)`);
    expect(boundedPath(path)).toHaveLength(MAX_PATH);
  });

  it('bounds the path and message of every issue where it is made', () => {
    const made = issue('decode.forbidden-key', `${'k'.repeat(100)}.__proto__`, 'm'.repeat(5000));
    expect(made).toEqual({
      code: 'decode.forbidden-key',
      path: `${'k'.repeat(52)}…(100 chars).__proto__`,
      message: `${'m'.repeat(MAX_PATH - 13)}…(5000 chars)`,
    });
    expect(issue('validate.invariant', 'total', 'fails', 'positive')).toEqual({
      code: 'validate.invariant',
      path: 'total',
      message: 'fails',
      rule: 'positive',
    });
  });
});

describe('every issue code', () => {
  it('is expected by at least one test or mapping test file', async () => {
    const root = projectRoot();
    const texts: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else if (/\.test\.(ts|yaml)$/.test(entry.name) && !path.endsWith('issues.test.ts'))
          texts.push(await readFile(path, 'utf8'));
      }
    };
    await walk(join(root, 'test'));
    await walk(join(root, 'mappings'));
    const all = texts.join('\n');
    expect(ISSUE_CODES.filter((code) => !all.includes(code))).toEqual([]);
  });
});
