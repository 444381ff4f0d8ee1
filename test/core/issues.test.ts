import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { ISSUE_CODES, shown, STAGES, stageOf } from '../../src/core/issues.js';

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
