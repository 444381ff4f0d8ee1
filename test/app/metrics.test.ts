import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/app/logger.js';
import { Metrics, RETRY_CODES_AT_START } from '../../src/app/metrics.js';
import { ISSUE_CODES } from '../../src/core/issues.js';
import { DROP_KINDS } from '../../src/core/verdict.js';
import { BASE_MAPPING, compileText } from '../support/mappings.js';
import { jsonRecord } from '../support/records.js';
import { RecordingProducer, testPorts, testTask } from '../support/tasks.js';

/** Every membrane metric, as README's Operations section documents them. */
const MEMBRANE_METRICS = [
  'membrane_records_in_total',
  'membrane_records_out_total',
  'membrane_records_quarantined_total',
  'membrane_records_dropped_total',
  'membrane_retries_total',
  'membrane_rebalances_total',
  'membrane_transaction_seconds',
  'membrane_batch_seconds',
  'membrane_lag_records',
  'membrane_lag_seconds',
  'membrane_tasks',
];

/** One sample of `text` (Prometheus exposition), or undefined when there is none. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const have = (match[2] ?? '').split(',').filter((l) => l !== '');
    if (wanted.every((w) => have.includes(w)) && have.length === wanted.length)
      return Number(match[3]);
  }
  return undefined;
}

/** A mapping that drops test orders by a route and what no route matches by `otherwise`. */
const DROPPING = `${BASE_MAPPING.replace(
  '  - name: placed\n',
  '  - name: test\n    when: record.kind == "test"\n    drop: test traffic\n  - name: placed\n    when: record.kind == "placed"\n',
)}otherwise: { drop: not an order event }\n`;

const order = { event_id: 'e-1', order_id: 'o-1', total: '12.50', kind: 'placed' };

describe('metric names', () => {
  it("exposes prom-client's default process and Node.js metrics under their standard names", async () => {
    const text = await new Metrics().registry.metrics();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'process_start_time_seconds',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_active_handles_total',
    ])
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    expect(text).not.toMatch(/membrane_process_/);
  });

  it("keeps membrane's own metrics as documented, every one of them", async () => {
    const metrics = new Metrics();
    const names = (await metrics.registry.getMetricsAsJSON())
      .map((m) => m.name)
      .filter((n) => n.startsWith('membrane_'));
    expect(names.sort()).toEqual([...MEMBRANE_METRICS].sort());
  });

  it('labels drops by mapping, route and kind: never by the free-text reason', () => {
    const metrics = new Metrics();
    expect((metrics.dropped as unknown as { labelNames: readonly string[] }).labelNames).toEqual([
      'mapping',
      'route',
      'kind',
    ]);
  });
});

describe('counters at zero', () => {
  it('starts every series a mapping can count at 0, before its first record', async () => {
    const metrics = new Metrics();
    const pipeline = await compileText(DROPPING);
    metrics.track([pipeline]);
    const text = await metrics.registry.metrics();
    const mapping = 'orders';
    expect(sample(text, 'membrane_records_in_total', { mapping })).toBe(0);
    expect(sample(text, 'membrane_records_out_total', { mapping, topic: 'sales.placed' })).toBe(0);
    for (const code of ISSUE_CODES)
      expect(sample(text, 'membrane_records_quarantined_total', { mapping, code })).toBe(0);
    for (const [route, kind] of [
      ['', 'duplicate'],
      ['test', 'route'],
      ['', 'otherwise'],
    ] as const)
      expect(sample(text, 'membrane_records_dropped_total', { mapping, route, kind })).toBe(0);
    for (const code of RETRY_CODES_AT_START)
      expect(sample(text, 'membrane_retries_total', { mapping, code })).toBe(0);
    expect(sample(text, 'membrane_rebalances_total')).toBe(0);
    expect(sample(text, 'membrane_tasks')).toBe(0);
    expect(sample(text, 'membrane_transaction_seconds_count', { mapping })).toBe(0);
    expect(sample(text, 'membrane_batch_seconds_count', { mapping })).toBe(0);
    expect(sample(text, 'membrane_transaction_seconds_bucket', { mapping, le: '+Inf' })).toBe(0);
    // Only drops the mapping configures: no series for a kind it cannot make.
    const dropSeries = text.split('\n').filter((l) => l.startsWith('membrane_records_dropped'));
    expect(dropSeries).toHaveLength(3);
  });

  it('leaves what was counted alone when a mapping is tracked again (each task tracks it)', async () => {
    const metrics = new Metrics();
    const pipeline = await compileText(BASE_MAPPING);
    metrics.track([pipeline]);
    metrics.recordsIn.inc({ mapping: 'orders' }, 5);
    metrics.track([pipeline]);
    const text = await metrics.registry.metrics();
    expect(sample(text, 'membrane_records_in_total', { mapping: 'orders' })).toBe(5);
  });
});

describe('drops through a task', () => {
  it('counts each drop by its kind and route, and logs the reason at debug once per cause a chunk', async () => {
    const metrics = new Metrics();
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger('debug', {
      destination: {
        write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
      },
    });
    const producer = new RecordingProducer();
    const task = testTask(await compileText(DROPPING), testPorts(producer), { metrics, logger });
    // Constructing the task started its mapping's series.
    expect(
      sample(await metrics.registry.metrics(), 'membrane_records_dropped_total', {
        mapping: 'orders',
        route: 'test',
        kind: 'route',
      }),
    ).toBe(0);
    await task.adopt();
    const records = [
      { ...order, event_id: 'e-1' },
      { ...order, event_id: 'e-2', kind: 'test' },
      { ...order, event_id: 'e-3', kind: 'test' },
      { ...order, event_id: 'e-4', kind: 'other' },
      { ...order, event_id: 'e-1' }, // redelivered
      { ...order, event_id: 'e-5', kind: 'test' },
    ].map((value, i) => {
      const source = jsonRecord(value, { offset: String(i) });
      return {
        key: source.key,
        value: source.value,
        headers: {},
        offset: source.offset,
        timestamp: source.timestamp,
      };
    });
    expect(await task.process('erp.orders', records)).toEqual({ committed: 6, failure: undefined });

    const text = await metrics.registry.metrics();
    const dropped = (route: string, kind: string): number | undefined =>
      sample(text, 'membrane_records_dropped_total', { mapping: 'orders', route, kind });
    expect(dropped('test', 'route')).toBe(3);
    expect(dropped('', 'otherwise')).toBe(1);
    expect(dropped('', 'duplicate')).toBe(1);
    expect(sample(text, 'membrane_records_in_total', { mapping: 'orders' })).toBe(6);
    expect(
      sample(text, 'membrane_records_out_total', { mapping: 'orders', topic: 'sales.placed' }),
    ).toBe(1);
    for (const line of text.split('\n').filter((l) => l.startsWith('membrane_records_dropped')))
      expect(DROP_KINDS.some((kind) => line.includes(`kind="${kind}"`))).toBe(true);

    const said = lines.filter((l) => String(l['msg']).startsWith('records dropped'));
    expect(
      said.map((l) => [l['level'], l['kind'], l['route'], l['count'], l['msg']]).sort(),
    ).toEqual(
      [
        ['debug', 'duplicate', undefined, 1, 'records dropped: duplicate'],
        ['debug', 'otherwise', undefined, 1, 'records dropped: not an order event'],
        ['debug', 'route', 'test', 3, 'records dropped: test: test traffic'],
      ].sort(),
    );
  });

  it('logs no drop line at info', async () => {
    const lines: string[] = [];
    const logger = createLogger('info', {
      destination: { write: (line: string) => lines.push(line) },
    });
    const metrics = new Metrics();
    const task = testTask(await compileText(DROPPING), testPorts(new RecordingProducer()), {
      logger,
      metrics,
    });
    await task.adopt();
    const source = jsonRecord({ ...order, kind: 'test' });
    await task.process('erp.orders', [
      {
        key: source.key,
        value: source.value,
        headers: {},
        offset: '0',
        timestamp: source.timestamp,
      },
    ]);
    expect(
      sample(await metrics.registry.metrics(), 'membrane_records_dropped_total', {
        mapping: 'orders',
        route: 'test',
        kind: 'route',
      }),
    ).toBe(1);
    expect(lines.filter((l) => l.includes('records dropped'))).toEqual([]);
  });
});
