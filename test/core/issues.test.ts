import { describe, expect, it } from 'vitest';
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
