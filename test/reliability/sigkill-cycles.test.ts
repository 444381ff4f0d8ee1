import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectConserved } from '../support/conservation.js';
import { startLoad } from '../support/load.js';
import { startMembrane } from '../support/membrane-process.js';
import { accountForOrders, orderMessages, useOrderTopics } from '../support/orders.js';
import { catchUpAndStop, committedOf, secondsUntilProgress, until } from '../support/scenario.js';

const CYCLES = 10;

describe('membrane killed with SIGKILL at random moments, again and again, under load', () => {
  const ctx = useOrderTopics(3);

  it(`loses nothing and duplicates nothing over ${CYCLES} kills, and clocks continue`, async ({
    task,
  }) => {
    const started = Date.now();
    const topics = ctx.topics();
    const committed = committedOf(() => ctx.admin(), topics.group, topics.input);
    const env = ctx.env({
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      MEMBRANE_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'error',
    });
    // How many more records each incarnation commits before it is killed: from a fixed seed,
    // so the "random" moments are the same on every run.
    const lifetimes = fc.sample(fc.integer({ min: 20, max: 400 }), { seed: 10, numRuns: CYCLES });
    const load = startLoad(ctx.kafka, topics.input, orderMessages, { batch: 10, intervalMs: 40 });
    const recovery: number[] = [];
    try {
      for (const lifetime of lifetimes) {
        const before = await committed();
        const member = startMembrane(env);
        // Recovery: a new process, the dead member's session expiring, fencing its
        // transactions, restoring the clocks — until it commits again.
        recovery.push(await secondsUntilProgress(committed, before, [member]));
        process.stderr.write(
          `[sigkill] incarnation ${recovery.length}: committing again after ${(recovery.at(-1) ?? 0).toFixed(1)} s (${before} committed, ${load.acknowledged()} sent)\n`,
        );
        const target = (await committed()) + lifetime;
        await until(`${target} committed`, async () => (await committed()) >= target, [member]);
        member.child.kill('SIGKILL');
        await member.exited;
      }
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    const last = startMembrane(env);
    await catchUpAndStop(last, committed, total);

    const accounting = await accountForOrders(ctx.kafka, topics);
    task.meta.reliability = {
      scenario: `SIGKILL x${CYCLES} under load`,
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    expect(accounting.in).toBe(total);
    expectConserved(accounting);
  });
});
