import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Metrics } from '../../src/app/metrics.js';
import { projectRoot } from '../../src/infra/paths.js';
import { BASE_MAPPING, compileText } from '../support/mappings.js';
import {
  allPanels,
  missingFrom,
  parseExposition,
  promqlUses,
  readDashboard,
  type Dashboard,
} from './promql.js';

const root = projectRoot();
const yamlAt = async (path: string): Promise<unknown> =>
  parse(await readFile(join(root, path), 'utf8')) as unknown;

describe('PromQL metric names', () => {
  it('finds the metrics of selectors, aggregations, functions and binary operators', () => {
    expect(
      promqlUses(
        'histogram_quantile(0.99, sum by (le, mapping) (rate(membrane_transaction_seconds_bucket{mapping=~"$mapping"}[$__rate_interval])))',
      ),
    ).toEqual({ metrics: ['membrane_transaction_seconds_bucket'], labels: ['mapping', 'le'] });
    expect(
      promqlUses(
        'sum by (mapping) (rate(a_sum{job="membrane"}[5m] offset 1h)) / on (mapping) group_left sum without (instance) (rate(a_count[1m:10s])) > bool 0.5e3',
      ),
    ).toEqual({ metrics: ['a_sum', 'a_count'], labels: ['mapping'] });
    expect(promqlUses('up{job="x", code!~"a{b}|\\"c\\""} or vector(0)').metrics).toEqual(['up']);
  });

  it('reads _bucket, _sum and _count as a histogram only when /metrics says so', () => {
    const page = parseExposition(
      [
        '# TYPE h histogram',
        'h_bucket{le="1",mapping="m"} 0',
        'h_sum{mapping="m"} 0',
        '# TYPE c counter',
        'c{mapping="m"} 0',
        '',
      ].join('\n'),
    );
    expect(
      missingFrom(page, { metrics: ['h_bucket', 'h_sum'], labels: ['le', 'mapping'] }),
    ).toEqual([]);
    expect(missingFrom(page, { metrics: ['h_count', 'c_count', 'c'], labels: ['kind'] })).toEqual([
      'metric h_count',
      'metric c_count',
      'label kind',
    ]);
  });
});

describe('the Grafana dashboard', () => {
  const load = (): Promise<Dashboard> => readDashboard();

  it('has a panel for each thing an operator watches', async () => {
    const titles = allPanels(await load()).map((p) => p.title);
    for (const title of [
      'Throughput',
      'Quarantine by code',
      'Drops by kind',
      'Lag (records)',
      'Lag (seconds)',
      'Transaction latency',
      'Retries',
      'Rebalances',
      'Tasks',
      'CPU',
      'Memory',
      'Event loop lag',
    ])
      expect(titles).toContain(title);
  });

  it('queries only metrics (and labels) that membrane exposes, with every counter it can start at zero', async () => {
    const metrics = new Metrics();
    metrics.track([await compileText(BASE_MAPPING)]);
    // Lag gauges appear with the first committed chunk of a partition.
    metrics.lagRecords.set({ topic: 'erp.orders', partition: '0' }, 0);
    metrics.lagSeconds.set({ topic: 'erp.orders', partition: '0' }, 0);
    const page = parseExposition(await metrics.registry.metrics());
    const problems = allPanels(await load()).flatMap((panel) =>
      (panel.targets ?? []).flatMap((t) => {
        const use = promqlUses(t.expr);
        const missing = [
          ...missingFrom(page, use),
          ...(use.metrics.length === 0 ? ['no metric'] : []),
        ];
        return missing.map((m) => `${panel.title} ${t.refId}: ${m} (${t.expr})`);
      }),
    );
    expect(problems).toEqual([]);
  });

  it('reads from the provisioned Prometheus through its datasource variable', async () => {
    const dashboard = await load();
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const provisioned = (await yamlAt(
      'deploy/grafana/provisioning/datasources/prometheus.yml',
    )) as {
      datasources: { uid: string; type: string; url: string; isDefault: boolean }[];
    };
    expect(provisioned.datasources).toEqual([
      expect.objectContaining({
        type: 'prometheus',
        uid: 'prometheus',
        url: 'http://prometheus:9090',
        isDefault: true,
      }),
    ]);
    expect(variable?.current?.value).toBe(provisioned.datasources[0]?.uid);
    for (const panel of allPanels(dashboard).filter((p) => p.type !== 'row')) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? [])
        expect(target.datasource, panel.title).toEqual(panel.datasource);
    }
    const mapping = dashboard.templating.list.find((v) => v.name === 'mapping');
    expect(mapping?.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('lays its panels out on the grid without overlaps, with unique ids', async () => {
    const panels = allPanels(await load());
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    const cells = new Set<string>();
    for (const { title, gridPos: g } of panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it('is provisioned from /var/lib/grafana/dashboards, and Prometheus scrapes membrane:8080/metrics', async () => {
    const dashboards = (await yamlAt('deploy/grafana/provisioning/dashboards/membrane.yml')) as {
      providers: { type: string; options: { path: string } }[];
    };
    expect(dashboards.providers).toEqual([
      expect.objectContaining({
        type: 'file',
        options: expect.objectContaining({ path: '/var/lib/grafana/dashboards' }) as unknown,
      }),
    ]);
    const prometheus = (await yamlAt('deploy/prometheus/prometheus.yml')) as {
      scrape_configs: {
        job_name: string;
        metrics_path?: string;
        static_configs: { targets: string[] }[];
      }[];
    };
    expect(prometheus.scrape_configs).toEqual([
      expect.objectContaining({
        job_name: 'membrane',
        metrics_path: '/metrics',
        static_configs: [{ targets: ['membrane:8080'] }],
      }),
    ]);
    // The panels filter process metrics by that job: other targets' must not mix in.
    const jobs = allPanels(await load())
      .flatMap((p) => p.targets ?? [])
      .flatMap((t) => [...t.expr.matchAll(/job="([^"]*)"/g)].map((m) => m[1]));
    expect(new Set(jobs)).toEqual(new Set(['membrane']));
  });
});
