import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectConserved } from '../support/conservation.js';
import { accountToTheEnd, stopMember } from '../support/freeze.js';
import { startLoad } from '../support/load.js';
import { startMembrane } from '../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../support/orders.js';
import { committedOf, secondsUntilProgress, until } from '../support/scenario.js';

/**
 * The seeds the kill moments are drawn from: a fixed list, so that a failure replays with
 * `SIGKILL_SEEDS=<seed>` (the seed is in the test's name). The sigkill-cycles scenario runs
 * seed 10; these add other moments each CI run, fewer kills each to keep the time.
 */
const SEEDS = (process.env['SIGKILL_SEEDS'] ?? '3,271,4099').split(',').map(Number);
const CYCLES = Number(process.env['SIGKILL_CYCLES'] ?? 3);

for (const seed of SEEDS) {
  describe(`membrane killed with SIGKILL at the moments of seed ${seed}, under load`, () => {
    const ctx = useOrderTopics(3);

    it(`loses nothing and duplicates nothing over ${CYCLES} kills (seed ${seed}), and clocks count up`, async ({
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
      // How many more records each incarnation commits before it is killed: from the seed.
      const lifetimes = fc.sample(fc.integer({ min: 20, max: 400 }), { seed, numRuns: CYCLES });
      const load = startLoad(ctx.kafka, topics.input, orderMessages, {
        batch: 10,
        intervalMs: 60,
      });
      const recovery: number[] = [];
      try {
        for (const lifetime of lifetimes) {
          const before = await committed();
          const member = startMembrane(env);
          recovery.push(await secondsUntilProgress(committed, before, [member]));
          const target = (await committed()) + lifetime;
          await until(`${target} committed`, async () => (await committed()) >= target, [member]);
          member.child.kill('SIGKILL');
          await member.exited;
          process.stderr.write(
            `[sigkill seed ${seed}] incarnation ${recovery.length}: committing again after ${(recovery.at(-1) ?? 0).toFixed(1)} s, killed at ${await committed()} committed, ${load.acknowledged()} sent\n`,
          );
        }
      } finally {
        await load.stop();
      }
      const total = load.acknowledged();
      const last = startMembrane(env);
      await until(`all ${total} committed`, async () => (await committed()) >= total, [last]);
      const exit = await stopMember(last);

      const { accounting, clocks, idsTwice } = await accountToTheEnd(ctx.kafka, topics);
      task.meta.reliability = {
        scenario: `SIGKILL x${CYCLES} under load, seed ${seed}`,
        ...accounting,
        recovery,
        seconds: (Date.now() - started) / 1000,
      };
      task.meta.clocks = clocks;
      process.stderr.write(
        `[sigkill seed ${seed}] ${accounting.in} in, ${accounting.out} out, ${accounting.lost} lost, ${accounting.duplicated} duplicated, ${idsTwice} membrane.id twice; clocks off in ${clocks.aggregates} aggregates ${clocks.examples.join(' | ')}\n`,
      );
      expect.soft(exit, last.output().slice(-3000)).toBe(0);
      expect.soft(accounting.in).toBe(total);
      expect.soft(idsTwice, 'membrane.id values written more than once').toBe(0);
      expect.soft(clocks.examples, 'aggregates whose clock did not count 1, 2, 3…').toEqual([]);
      expectConserved(accounting);
    });
  });
}
