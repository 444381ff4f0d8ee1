import type { Reporter, TestModule } from 'vitest/node';
import type { ScenarioReport } from './conservation.js';

/** The reliability scenarios' figures as one table, then the codes each quarantined. */
export function reliabilityTable(reports: readonly ScenarioReport[]): string {
  const seconds = (s: number): string => `${s.toFixed(1)} s`;
  const rows = reports.map((r) => [
    r.scenario,
    String(r.in),
    String(r.out),
    String(Object.values(r.quarantined).reduce((a, b) => a + b, 0)),
    String(r.dropped),
    String(r.lost),
    String(r.duplicated),
    r.recovery.length === 0 ? '-' : seconds(Math.max(...r.recovery)),
    seconds(r.seconds),
  ]);
  const head = [
    'scenario',
    'in',
    'out',
    'quarantined',
    'dropped',
    'lost',
    'duplicated',
    'recovery (max)',
    'took',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join('  ');
  const codes = reports.map(
    (r) =>
      `  ${r.scenario}: ${
        Object.entries(r.quarantined)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([code, n]) => `${code} ${n}`)
          .join(', ') || 'nothing quarantined'
      }`,
  );
  return [line(head), ...rows.map(line), '', 'quarantined by code:', ...codes].join('\n');
}

/**
 * Ends the run with the reliability table (when reliability scenarios ran) and one plain
 * line, `vitest: N passed, N failed, N skipped`, that any CI log reader understands.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: readonly TestModule[]): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    const reports: ScenarioReport[] = [];
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed += 1;
        else if (state === 'failed') failed += 1;
        else skipped += 1;
        const report = test.meta().reliability;
        if (report) reports.push(report);
      }
      if (module.state() === 'failed' && module.children.size === 0) failed += 1;
    }
    if (reports.length > 0) {
      reports.sort((a, b) => a.scenario.localeCompare(b.scenario));
      process.stdout.write(`\nReliability scenarios\n${reliabilityTable(reports)}\n`);
    }
    process.stdout.write(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
