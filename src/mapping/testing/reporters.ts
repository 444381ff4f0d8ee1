import { formatProblem } from '../load.js';
import type { CaseResult, FileReport } from '../test-runner.js';

/**
 * What `membrane test` prints: the human report (default), JSON, or JUnit XML for CI. Each is
 * a pure function of the runner's reports, so a report says the same whatever it is written
 * to. The JSON shape is the README's contract ("Checking and testing mappings").
 */

export const REPORTERS = ['human', 'junit', 'json'] as const;
export type Reporter = (typeof REPORTERS)[number];

export interface Totals {
  /** Cases that passed. */
  readonly passed: number;
  /** Cases that failed. */
  readonly failed: number;
  /** Test files that could not run (their YAML, their schema, their mapping). */
  readonly errors: number;
}

export function totals(reports: readonly FileReport[]): Totals {
  let passed = 0;
  let failed = 0;
  let errors = 0;
  for (const report of reports) {
    if (report.error !== null) errors += 1;
    for (const c of report.cases) {
      if (c.passed) passed += 1;
      else failed += 1;
    }
  }
  return { passed, failed, errors };
}

/** Whether the run succeeded: a case passed, and nothing failed or could not run. */
export function succeeded(t: Totals): boolean {
  return t.passed > 0 && t.failed === 0 && t.errors === 0;
}

/** The lines saying why a file could not run. */
function errorLines(report: FileReport): string[] {
  const error = report.error;
  if (error === null) return [];
  if (error.problems.length > 0) return error.problems.map(formatProblem);
  return [`${error.message}${error.hint === undefined ? '' : ` (${error.hint})`}`];
}

const where = (report: FileReport, c: CaseResult): string => `${report.file}:${c.line}`;

export interface HumanOptions {
  /** Green ✓ and red ✗ (a terminal). */
  readonly colour: boolean;
  /** Makes text from the test file or the record safe to print (the CLI escapes for terminals). */
  readonly escape: (text: string) => string;
}

/**
 * One line per case, ✓ or ✗; a failing case names its file:line, then one line per
 * difference; then the totals.
 */
export function humanReport(reports: readonly FileReport[], options: HumanOptions): string {
  const { escape } = options;
  const paint = (code: number, text: string): string =>
    options.colour ? `\u001b[${code}m${text}\u001b[39m` : text;
  const pass = paint(32, '✓');
  const fail = paint(31, '✗');
  const lines: string[] = [];
  for (const report of reports) {
    lines.push(
      report.mapping === null ? escape(report.file) : `${escape(report.file)} (${report.mapping})`,
    );
    if (report.error !== null) {
      lines.push(`  ${fail} cannot run:`);
      for (const line of errorLines(report)) lines.push(`      ${escape(line)}`);
    }
    for (const c of report.cases) {
      if (c.passed) {
        lines.push(`  ${pass} ${escape(c.name)}`);
        continue;
      }
      lines.push(`  ${fail} ${escape(c.name)} (${escape(where(report, c))})`);
      for (const line of c.differences) lines.push(`      ${escape(line)}`);
    }
  }
  const t = totals(reports);
  const notRun =
    t.errors === 0 ? '' : `, ${t.errors} test ${t.errors === 1 ? 'file' : 'files'} could not run`;
  lines.push(`${t.passed} passed, ${t.failed} failed${notRun}`);
  return `${lines.join('\n')}\n`;
}

const milliseconds = (ms: number): number => Math.round(ms * 1000) / 1000;

/** The JSON report: totals, then each file with its cases (see the README for the shape). */
export function jsonReport(reports: readonly FileReport[]): string {
  const files = reports.map((report) => {
    const t = totals([report]);
    return {
      file: report.file,
      mapping: report.mapping,
      passed: t.passed,
      failed: t.failed,
      durationMs: milliseconds(report.durationMs),
      error:
        report.error === null
          ? null
          : {
              code: report.error.code,
              message: report.error.message,
              hint: report.error.hint ?? null,
              problems: report.error.problems.map((p) => ({
                file: p.file,
                line: p.line,
                column: p.column,
                path: p.path,
                message: p.message,
                hint: p.hint ?? null,
              })),
            },
      cases: report.cases.map((c) => ({
        name: c.name,
        file: report.file,
        line: c.line,
        passed: c.passed,
        failures: c.differences,
        durationMs: milliseconds(c.durationMs),
      })),
    };
  });
  return `${safeJson({ ...totals(reports), files })}\n`;
}

/**
 * Code points a terminal must not see raw (controls, format characters such as bidi overrides
 * and zero-width ones, separators other than the space, default-ignorables), the rule of
 * src/cli/text.ts: test names and values from upstream records can hold any of them. Both
 * machine reports write them as escapes their format reads back to the same text, so a
 * report is as safe on a terminal as in a file and says exactly what the record held.
 */
const UNSAFE = /[\p{C}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]|(?! )\p{Zs}/gu;

const hex4 = (code: number): string => code.toString(16).padStart(4, '0');

/** JSON whose strings escape every unsafe code point as `\uXXXX` (the same string to a parser). */
function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE, (char) =>
    char === '\n'
      ? char
      : Array.from({ length: char.length }, (_, i) => `\\u${hex4(char.charCodeAt(i))}`).join(''),
  );
}

/** Code points XML 1.0 cannot carry at all, even as references: C0 controls but tab and line breaks, lone surrogates, U+FFFE, U+FFFF. */
// eslint-disable-next-line no-control-regex
const NOT_XML = /^(?:[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|\p{Cs})$/u;

/**
 * Text for an XML text node or attribute: markup characters as entities, unsafe code points as
 * character references (`&#x202e;`), and the few XML cannot carry as `\u{…}` text, so that a
 * name or value with one still gives a well-formed report. Line breaks and tabs stay in text
 * nodes; in attributes they become references, which parsers keep (raw, they fold to spaces).
 */
function xml(text: string, attribute: boolean): string {
  return text
    .replace(attribute ? /[&<>"]/g : /[&<>]/g, (c) => ENTITIES[c] ?? c)
    .replace(UNSAFE, (char) => {
      const code = char.codePointAt(0) ?? 0;
      if (!attribute && (char === '\n' || char === '\t')) return char;
      if (NOT_XML.test(char)) return `\\u{${code.toString(16)}}`;
      return `&#x${code.toString(16)};`;
    });
}

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
};

const xmlText = (text: string): string => xml(text, false);
const xmlAttribute = (text: string): string => xml(text, true);

const seconds = (ms: number): string => (ms / 1000).toFixed(3);

/** `mappings/legacy-orders.test.yaml` → `mappings.legacy-orders` (CI tools group by its dots). */
function className(file: string): string {
  return file
    .replace(/\\/g, '/')
    .replace(/^(?:\.?\/)+/, '')
    .replace(/\.test\.ya?ml$/, '')
    .replace(/\//g, '.');
}

/**
 * JUnit XML as CI systems read it (Jenkins' junit and xunit plugins, GitLab, Azure DevOps,
 * GitHub Actions' test reporters): one <testsuite> per test file (its `file` attribute the
 * test file), one <testcase> per case, a <failure> whose message is the first difference and
 * whose text is `file:line: name` and then every difference; a file that cannot run is one
 * <testcase> with an <error> listing its problems. Only attributes of the Surefire schema
 * that Jenkins' xunit plugin validates against (junit-10.xsd), so no `file`/`line` on a
 * <testcase> (the way pytest's and vitest's JUnit reports leave them out by default): the
 * case's file:line opens its failure text.
 */
export function junitReport(reports: readonly FileReport[]): string {
  const t = totals(reports);
  const all = reports.reduce((sum, r) => sum + r.durationMs, 0);
  const out: string[] = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="membrane test" tests="${t.passed + t.failed + t.errors}" failures="${t.failed}" errors="${t.errors}" time="${seconds(all)}">`,
  ];
  for (const report of reports) {
    const r = totals([report]);
    const file = xmlAttribute(report.file);
    const classname = xmlAttribute(className(report.file));
    out.push(
      `  <testsuite name="${file}" tests="${r.passed + r.failed + r.errors}" failures="${r.failed}" errors="${r.errors}" skipped="0" time="${seconds(report.durationMs)}" file="${file}">`,
    );
    if (report.mapping !== null)
      out.push(
        '    <properties>',
        `      <property name="mapping" value="${xmlAttribute(report.mapping)}"/>`,
        '    </properties>',
      );
    if (report.error !== null) {
      const lines = errorLines(report);
      out.push(
        `    <testcase name="${file}" classname="${classname}" time="${seconds(report.durationMs)}">`,
        `      <error message="${xmlAttribute(lines[0] ?? report.error.message)}" type="${xmlAttribute(report.error.code)}">${xmlText(lines.join('\n'))}</error>`,
        '    </testcase>',
      );
    }
    for (const c of report.cases) {
      const open = `    <testcase name="${xmlAttribute(c.name)}" classname="${classname}" time="${seconds(c.durationMs)}"`;
      if (c.passed) {
        out.push(`${open}/>`);
        continue;
      }
      out.push(
        `${open}>`,
        `      <failure message="${xmlAttribute(c.differences[0] ?? 'failed')}" type="mismatch">${xmlText([`${where(report, c)}: ${c.name}`, ...c.differences].join('\n'))}</failure>`,
        '    </testcase>',
      );
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return `${out.join('\n')}\n`;
}

export function report(
  reporter: Reporter,
  reports: readonly FileReport[],
  human: HumanOptions,
): string {
  if (reporter === 'json') return jsonReport(reports);
  if (reporter === 'junit') return junitReport(reports);
  return humanReport(reports, human);
}
