import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunConfig } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/logger.js';
import { Runtime } from '../../../src/app/runtime/bootstrap.js';
import { waitFor } from '../../../src/infra/wait.js';
import {
  allPanels,
  missingFrom,
  parseExposition,
  promqlUses,
  readDashboard,
} from '../../deploy/promql.js';
import { orderKind, orderMessages, useOrderTopics } from '../../support/orders.js';

const N = 60;

/** The value of the one sample `name{labels}` on a /metrics page, if there is one. */
function sample(page: string, name: string, labels: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('the Grafana dashboard against a running membrane', () => {
  const ctx = useOrderTopics(2);
  let runtime: Runtime | undefined;
  let page: string;

  beforeAll(async () => {
    const topics = ctx.topics();
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();
    const env = ctx.env({ LOG_LEVEL: 'error' });
    const started = new Runtime({ config: loadRunConfig(env), logger: createLogger('error'), env });
    runtime = started;
    await started.start();
    // Every record committed: the lag gauges of both partitions are set by then.
    const done = await waitFor(
      async () => {
        const text = await (
          await fetch(`http://127.0.0.1:${started.httpPort ?? 0}/metrics`)
        ).text();
        const recordsIn = sample(text, 'membrane_records_in_total', 'mapping="legacy-orders"');
        if (recordsIn !== N) throw new Error(`${recordsIn ?? 'no'} records in`);
        for (const partition of [0, 1])
          if (
            !text.includes(`membrane_lag_records{topic="${topics.input}",partition="${partition}"}`)
          )
            throw new Error(`no lag for partition ${partition}`);
        return text;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    if (!done.ok) throw new Error(done.reason);
    page = done.value;
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it("queries only metrics and labels on the running membrane's /metrics", async () => {
    const exposed = parseExposition(page);
    const problems = allPanels(await readDashboard()).flatMap((panel) =>
      (panel.targets ?? []).flatMap((target) =>
        missingFrom(exposed, promqlUses(target.expr)).map(
          (m) => `${panel.title} ${target.refId}: ${m} (${target.expr})`,
        ),
      ),
    );
    expect(problems).toEqual([]);
  });

  it('exposes process metrics under their standard names, drops by kind, and counters from zero', () => {
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_heap_size_used_bytes',
    ])
      expect(page).toMatch(new RegExp(`^${name} `, 'm'));
    expect(page).not.toContain('membrane_process_');
    const tests = Array.from({ length: N }, (_, i) => orderKind(i)).filter((k) => k === 'test');
    expect(tests.length).toBeGreaterThan(0);
    const mapping = 'mapping="legacy-orders"';
    expect(
      sample(page, 'membrane_records_dropped_total', `${mapping},route="test-orders",kind="route"`),
    ).toBe(tests.length);
    expect(
      sample(page, 'membrane_records_dropped_total', `${mapping},route="",kind="duplicate"`),
    ).toBe(0);
    // Nothing was retried, and yet the series are there for rate() and alerts.
    expect(sample(page, 'membrane_retries_total', `${mapping},code="kafka.transient"`)).toBe(0);
    expect(
      sample(page, 'membrane_records_quarantined_total', `${mapping},code="route.no-match"`),
    ).toBe(0);
  });
});
