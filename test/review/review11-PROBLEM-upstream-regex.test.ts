import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { compileExpression } from '../../src/pipeline/cel.js';
import { runCli } from '../support/cli.js';

/**
 * review11: `matches()` is protected by V8's fallback to its linear engine, which cannot run
 * lookarounds or backreferences. `membrane validate` accepts a pattern that is not a literal,
 * so a mapping such as `when: sku.matches(warehouse_id)` lets the upstream producer choose the
 * pattern *and* the text: `^(a+)+(?=b)` against 26 characters took 3.5 s in `membrane try`
 * (each further character doubles it: 35 characters ≈ 30 minutes of a blocked event loop).
 * Literal patterns with a lookaround or backreference and a nested quantifier pass validate
 * too.
 */
describe('review11 PROBLEM: a regular expression chosen by the upstream record', () => {
  it('PROBLEM: validate accepts matches() with an upstream field as the pattern', async () => {
    const root = projectRoot();
    const text = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`)
      .replace('when: delta_qty == 0', 'when: sku.matches(warehouse_id)');
    expect(text).toContain('sku.matches(warehouse_id)');
    const dir = await mkdtemp(join(tmpdir(), 'review11-'));
    const file = join(dir, 'wms-stock.yaml');
    await writeFile(file, text);
    const result = await runCli(['validate', file], { ...process.env, NO_COLOR: '1' });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('1 valid, 0 invalid');
  });

  it('PROBLEM: a lookahead pattern from the record backtracks exponentially despite the linear-engine flag', () => {
    const expression = compileExpression('sku.matches(warehouse_id)');
    const time = (pattern: string, length: number): number => {
      const started = performance.now();
      expect(expression.evaluate({ sku: `${'a'.repeat(length)}!`, warehouse_id: pattern })).toBe(
        false,
      );
      return performance.now() - started;
    };
    // Without the lookahead the linear engine takes over: fast at any length.
    expect(time('^(a+)+b', 24)).toBeLessThan(1000);
    // With it, 2^n steps (~0.6 s here at 22 characters; a slower machine only takes longer).
    expect(time('^(a+)+(?=b)', 22)).toBeGreaterThan(50);
  });
});
