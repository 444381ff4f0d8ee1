import { describe, expect, it } from 'vitest';
import { expectConserved } from '../support/conservation.js';
import { startLoad } from '../support/load.js';
import { startMembrane, type MembraneProcess } from '../support/membrane-process.js';
import { accountForOrders, orderMessages, useOrderTopics } from '../support/orders.js';
import { catchUpAndStop, committedOf, secondsUntilProgress, until } from '../support/scenario.js';

describe('membrane scaled 1 → 3 → 1 instances under load', () => {
  const ctx = useOrderTopics(6);

  it('loses and duplicates nothing, and every aggregate’s clock stays monotonic', async ({
    task,
  }) => {
    const started = Date.now();
    const topics = ctx.topics();
    const env = ctx.env({ MEMBRANE_COMMIT_MAX_RECORDS: '20', LOG_LEVEL: 'error' });
    const committed = committedOf(() => ctx.admin(), topics.group, topics.input);
    const members = async (): Promise<number> => {
      const { groups } = await ctx.admin().describeGroups([topics.group]);
      return groups[0]?.state === 'Stable' ? groups[0].members.length : -1;
    };
    /** Seconds until the group is stable with `n` members and commits again. */
    const settle = async (n: number, all: MembraneProcess[]): Promise<number> => {
      const from = Date.now();
      await until(`${n} members`, async () => (await members()) === n, all);
      await secondsUntilProgress(committed, await committed(), all);
      return (Date.now() - from) / 1000;
    };
    const load = startLoad(ctx.kafka, topics.input, orderMessages, { batch: 10, intervalMs: 40 });
    const recovery: number[] = [];
    const a = startMembrane(env);
    try {
      await until('a working', async () => (await committed()) >= 300, [a]);
      const b = startMembrane(env);
      const c = startMembrane(env);
      recovery.push(await settle(3, [a, b, c]));
      const target = (await committed()) + 1000;
      await until('three members working', async () => (await committed()) >= target, [a, b, c]);
      b.child.kill('SIGTERM');
      c.child.kill('SIGTERM');
      expect(await b.exited, b.output()).toBe(0);
      expect(await c.exited, c.output()).toBe(0);
      recovery.push(await settle(1, [a]));
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    await catchUpAndStop(a, committed, total);

    // accountForOrders also checks each order's clock counts 1, 2, 3… across the moves.
    const accounting = await accountForOrders(ctx.kafka, topics);
    task.meta.reliability = {
      scenario: 'scaled 1 → 3 → 1',
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    expect(accounting.in).toBe(total);
    expectConserved(accounting);
  });
});
