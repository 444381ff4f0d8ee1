import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { projectRoot } from '../../src/infra/paths.js';

/** The dashboard the repository ships, as Grafana provisions it. */
export const DASHBOARD_PATH = join(projectRoot(), 'deploy/grafana/dashboards/membrane.json');

/** Labels Prometheus adds to every series it scrapes: never on /metrics itself. */
const TARGET_LABELS = new Set(['job', 'instance']);

export interface Target {
  readonly refId: string;
  readonly expr: string;
  readonly datasource?: { readonly type?: string; readonly uid?: string };
}

export interface Panel {
  readonly id: number;
  readonly type: string;
  readonly title: string;
  readonly gridPos: {
    readonly x: number;
    readonly y: number;
    readonly w: number;
    readonly h: number;
  };
  readonly datasource?: { readonly type?: string; readonly uid?: string };
  readonly targets?: readonly Target[];
  readonly panels?: readonly Panel[];
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly panels: readonly Panel[];
  readonly templating: {
    readonly list: readonly {
      readonly name: string;
      readonly type: string;
      readonly query: unknown;
      readonly current?: { readonly value?: unknown };
      readonly datasource?: { readonly uid?: string };
    }[];
  };
}

export async function readDashboard(path = DASHBOARD_PATH): Promise<Dashboard> {
  return JSON.parse(await readFile(path, 'utf8')) as Dashboard;
}

/** Every panel, those inside collapsed rows too. */
export function allPanels(dashboard: Dashboard): Panel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** What one PromQL expression reads: metric names, and the label names it matches or groups by. */
export interface ExprUse {
  readonly metrics: readonly string[];
  readonly labels: readonly string[];
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'inf',
  'nan',
]);

/**
 * The metric names and label names a PromQL expression (with Grafana's `$variables`) uses.
 * A tokenizer, not a parser: string literals, ranges and variables are removed, the labels of
 * `{…}` matchers and `by/without/on/ignoring (…)` clauses are collected, and what is left that
 * looks like a name and is not called (`rate(`, `sum (`) nor a keyword is a metric. Enough for
 * the selectors, aggregations, functions and binary operators a dashboard uses; a full parser
 * (Prometheus's own is Go; `@prometheus-io/lezer-promql` would be a new dependency) would
 * find the same names.
 */
export function promqlUses(expr: string): ExprUse {
  const labels = new Set<string>();
  let text = expr
    // Grafana variables: `$__rate_interval`, `$mapping`, `${mapping}`, `[[mapping]]`.
    .replace(/\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]/g, ' ')
    // String literals (label values, regexes), which may hold anything.
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  // Label matchers: keep the label names, drop the braces.
  text = text.replace(/\{([^}]*)\}/g, (_, inner: string) => {
    for (const m of inner.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g))
      if (m[1] !== undefined) labels.add(m[1]);
    return ' ';
  });
  // Grouping and matching clauses: label lists, not metrics.
  text = text.replace(
    /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g,
    (_, inner: string) => {
      for (const name of inner.split(',').map((s) => s.trim())) if (name !== '') labels.add(name);
      return ' ';
    },
  );
  text = text
    // Ranges and subqueries: `[5m]`, `[1h:1m]`.
    .replace(/\[[^\]]*\]/g, ' ')
    // Numbers and durations: `0.99`, `1e3`, `5m`.
    .replace(/(?<![a-zA-Z0-9_:])\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?/g, ' ');
  const metrics = new Set<string>();
  for (const m of text.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    const [, name, call] = m;
    if (name === undefined || call !== undefined || KEYWORDS.has(name.toLowerCase())) continue;
    metrics.add(name);
  }
  for (const name of TARGET_LABELS) labels.delete(name);
  return { metrics: [...metrics], labels: [...labels] };
}

/** What a /metrics page (Prometheus text format) exposes: each metric's type and label names. */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>;
  /** Sample name (`x_bucket`, `x_count` for a histogram) → label names seen on its samples. */
  readonly samples: ReadonlyMap<string, ReadonlySet<string>>;
}

export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type?.[1] !== undefined && type[2] !== undefined) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#') || line.trim() === '') continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s/.exec(line);
    if (sample?.[1] === undefined) continue;
    let names = samples.get(sample[1]);
    if (names === undefined) samples.set(sample[1], (names = new Set()));
    for (const m of (sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"/g))
      if (m[1] !== undefined) names.add(m[1]);
  }
  return { types, samples };
}

/**
 * What of `use` a /metrics page does not expose: metric names without a sample (a name ending
 * in `_bucket`, `_sum` or `_count` is read as its histogram's only when the page says the base
 * name is a histogram), and label names found on none of the expression's metrics.
 */
export function missingFrom(page: Exposition, use: ExprUse): string[] {
  const missing: string[] = [];
  const labelsSeen = new Set<string>();
  for (const name of use.metrics) {
    const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
    const base = histogram?.[1];
    const isHistogram = base !== undefined && page.types.get(base) === 'histogram';
    const names = page.samples.get(name);
    if (names === undefined || (histogram !== null && !isHistogram && !page.types.has(name))) {
      missing.push(`metric ${name}`);
      continue;
    }
    for (const label of names) labelsSeen.add(label);
  }
  for (const label of use.labels) if (!labelsSeen.has(label)) missing.push(`label ${label}`);
  return missing;
}
