import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changelogTopic } from '../../src/app/runtime/state.js';
import { expectConserved } from '../support/conservation.js';
import {
  accountToTheEnd,
  committedByPartition,
  groupAssignment,
  stopMember,
} from '../support/freeze.js';
import { startLoad } from '../support/load.js';
import { startMembrane, type MembraneProcess } from '../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../support/orders.js';
import {
  prefillChangelog,
  restoresFetching,
  watchTasks,
  type TaskWatch,
} from '../support/restoring.js';
import { until } from '../support/scenario.js';

const PARTITIONS = 3;
/** Clocks in each changelog partition before membrane starts: a restore takes seconds. */
const PREFILLED = Number(process.env['RESTORE_KILL_CLOCKS'] ?? 200_000);
const CYCLES = 3;

describe('members killed with SIGKILL right after a rebalance, in the middle of restoring a large state', () => {
  const ctx = useOrderTopics(PARTITIONS);

  it(`loses nothing and duplicates nothing, and clocks count up, over ${CYCLES} cycles`, async ({
    task,
  }) => {
    const started = Date.now();
    const topics = ctx.topics();
    const admin = ctx.admin();
    const changelog = changelogTopic(topics.group, 'legacy-orders');
    const writeMs = await prefillChangelog(ctx.kafka, admin, changelog, PARTITIONS, PREFILLED);
    process.stderr.write(
      `[restore-kill] ${PARTITIONS} × ${PREFILLED} clocks written to ${changelog} in ${(writeMs / 1000).toFixed(1)} s\n`,
    );
    const byPartition = (): Promise<Map<number, number>> =>
      committedByPartition(admin, topics.group, topics.input).catch(() => new Map());
    const committed = async (): Promise<number> =>
      [...(await byPartition()).values()].reduce((a, b) => a + b, 0);
    const env = ctx.env({
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      MEMBRANE_SESSION_TIMEOUT_MS: '6000',
      // The task log lines ('tasks assigned', 'task adopted; state restored') are info.
      LOG_LEVEL: 'info',
    });
    const everyone: TaskWatch[] = [];
    const start = (): TaskWatch => {
      const watch = watchTasks(startMembrane(env));
      everyone.push(watch);
      return watch;
    };
    const processes = (watches: readonly TaskWatch[]): MembraneProcess[] =>
      watches.map((w) => w.member);
    /**
     * `count` members in a stable group owning every task between them, and every partition
     * committed past where it was at `from` (each task restored and working again).
     */
    const settled = async (
      count: number,
      from: Map<number, number>,
      watches: readonly TaskWatch[],
    ): Promise<void> => {
      await until(
        `${count} members in a stable group owning every task`,
        async () => {
          const g = await groupAssignment(admin, topics.group, topics.input).catch(() => ({
            state: 'Unknown',
            members: [] as number[][],
          }));
          return (
            g.state === 'Stable' &&
            g.members.length === count &&
            g.members.flat().length === PARTITIONS
          );
        },
        processes(watches),
      );
      await until(
        'every partition committed again',
        async () => {
          const now = await byPartition();
          return Array.from({ length: PARTITIONS }, (_, p) => p).every(
            (p) => (now.get(p) ?? 0) > (from.get(p) ?? 0),
          );
        },
        processes(watches),
      );
    };
    /**
     * Waits until one of `candidates` is restoring — assigned a task it has not adopted yet,
     * while a restore consumer that began since this call is fetching — then, after
     * `intoMs` (the moment of the fault, drawn from a seed), kills it with SIGKILL if it is
     * still restoring. Returns it, its tasks being restored, how long after its assignment
     * it died, and whether it was still restoring them when the signal went: once it has
     * exited (its output read to the end), its log has not said 'task adopted; state
     * restored' for them.
     */
    const killRestoring = async (
      candidates: readonly TaskWatch[],
      intoMs: number,
    ): Promise<{
      killed: TaskWatch;
      tasks: readonly string[];
      after: number;
      midRestore: boolean;
    }> => {
      const earlier = await restoresFetching(admin, topics.group);
      let killed: TaskWatch | undefined;
      await until(
        'a member restoring a task',
        async () => {
          if (!candidates.some((w) => w.restoring().length > 0)) return false;
          const now = await restoresFetching(admin, topics.group);
          if (![...now].some((id) => !earlier.has(id))) return false;
          killed = candidates.find((w) => w.restoring().length > 0);
          return killed !== undefined;
        },
        processes(candidates),
      );
      await delay(intoMs);
      if (!killed) throw new Error('no member was restoring');
      const tasks = killed.restoring();
      const after = killed.sinceAssigned();
      killed.member.child.kill('SIGKILL');
      await killed.member.exited;
      const stillRestoring = new Set(killed.restoring());
      return {
        killed,
        tasks,
        after,
        midRestore: tasks.length > 0 && tasks.every((t) => stillRestoring.has(t)),
      };
    };

    // How far into each restore (after its consumer began fetching) the kill comes: from a
    // fixed seed, so the moments are the same on every run.
    const moments = fc.sample(fc.integer({ min: 0, max: 1500 }), { seed: 7, numRuns: CYCLES + 1 });
    const load = startLoad(ctx.kafka, topics.input, orderMessages, { batch: 10, intervalMs: 40 });
    const recovery: number[] = [];
    const kills: string[] = [];
    let members: TaskWatch[] = [];
    try {
      const a = start();
      members = [a];
      await settled(1, new Map(), members);
      members = [a, start()];
      await settled(2, await byPartition(), members);
      for (let cycle = 1; cycle <= CYCLES; cycle++) {
        // A third member joins: the rebalance moves a task to it, which it restores.
        const newcomer = start();
        const first = await killRestoring([newcomer], moments[kills.length] ?? 0);
        const killedAt = Date.now();
        kills.push(
          `newcomer ${first.tasks.join(',')} ${first.after} ms after its assignment${first.midRestore ? '' : ' (after)'}`,
        );
        const from = await byPartition();
        if (cycle === 2) {
          // Once its session expires, the task goes back to a survivor, which restores it in
          // turn: kill that one too, mid-restore, and start a member in its place.
          const second = await killRestoring(members, moments[kills.length] ?? 0);
          kills.push(
            `survivor ${second.tasks.join(',')} ${second.after} ms after its assignment${second.midRestore ? '' : ' (after)'}`,
          );
          members = [...members.filter((w) => w !== second.killed), start()];
        }
        await settled(2, from, members);
        recovery.push((Date.now() - killedAt) / 1000);
        process.stderr.write(
          `[restore-kill] cycle ${cycle}: killed ${kills.slice(cycle === 2 ? -2 : -1).join(' and ')}; 2 members working again ${(recovery.at(-1) ?? 0).toFixed(1)} s later (${await committed()} committed, ${load.acknowledged()} sent)\n`,
        );
      }
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    await until(
      `all ${total} committed`,
      async () => (await committed()) >= total,
      processes(members),
    );
    const exits = await Promise.all(members.map((w) => stopMember(w.member)));
    const restores = [...everyone]
      .flatMap((w) => w.adoptions())
      .filter((a) => a.records >= PREFILLED)
      .map((a) => `${a.task} ${a.records} in ${(a.ms / 1000).toFixed(1)} s`);
    process.stderr.write(`[restore-kill] restores finished: ${restores.join('; ')}\n`);

    const { accounting, clocks, idsTwice } = await accountToTheEnd(ctx.kafka, topics);
    task.meta.reliability = {
      scenario: `SIGKILL mid-restore (${PARTITIONS} × ${PREFILLED / 1000}k clocks) x${kills.length}`,
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    task.meta.clocks = clocks;
    process.stderr.write(
      `[restore-kill] ${accounting.in} in, ${accounting.out} out, ${accounting.lost} lost, ${accounting.duplicated} duplicated, ${idsTwice} membrane.id twice; clocks off in ${clocks.aggregates} aggregates ${clocks.examples.join(' | ')}; kills: ${kills.join('; ')}; exits ${exits.join(', ')}\n`,
    );
    expect
      .soft(exits, members.map((w) => w.member.output().slice(-2000)).join('\n'))
      .toEqual(members.map(() => 0));
    // Every kill hit a member in the middle of its restore.
    expect.soft(kills.filter((k) => k.endsWith('(after)'))).toEqual([]);
    expect.soft(accounting.in).toBe(total);
    expect.soft(idsTwice, 'membrane.id values written more than once').toBe(0);
    expect.soft(clocks.examples, 'aggregates whose clock did not count 1, 2, 3…').toEqual([]);
    expectConserved(accounting);
  });
});
