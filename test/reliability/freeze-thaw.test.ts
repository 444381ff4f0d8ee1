import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectConserved } from '../support/conservation.js';
import {
  accountToTheEnd,
  atLeastOnceClockViolations,
  committedByPartition,
  freeze,
  groupAssignment,
  stopMember,
  thaw,
} from '../support/freeze.js';
import { startLoad } from '../support/load.js';
import { startMembrane, type MembraneProcess } from '../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../support/orders.js';
import { committedOf, until } from '../support/scenario.js';

const PARTITIONS = 4;
const SESSION_TIMEOUT_MS = 6_000;

/**
 * Exactly once, the promise whole: nothing lost, nothing twice, clocks counting 1, 2, 3….
 * At least once, nothing fences a thawed zombie (it writes outputs, state and offsets until it
 * notices): records may be translated twice, but none is lost, the group's offsets reach the
 * end, and a record translated once never gets a clock at or below one its aggregate already
 * had on the outputs.
 */
describe.each(['exactly_once', 'at_least_once'] as const)(
  'members frozen past their session timeout and thawed (zombies), under load, %s',
  (guarantee) => {
    // Four partitions: with both members in, each owns two tasks.
    const ctx = useOrderTopics(PARTITIONS);
    const exactlyOnce = guarantee === 'exactly_once';

    it(
      exactlyOnce
        ? 'loses nothing and duplicates nothing when a thawed member resumes, and clocks never rewind'
        : 'loses nothing when a thawed member resumes, commits to the end, and clocks never rewind',
      async ({ task }) => {
        const started = Date.now();
        const topics = ctx.topics();
        const committed = committedOf(() => ctx.admin(), topics.group, topics.input);
        const byPartition = (): Promise<Map<number, number>> =>
          committedByPartition(ctx.admin(), topics.group, topics.input).catch(() => new Map());
        const group = (): Promise<{ state: string; members: number[][] }> =>
          groupAssignment(ctx.admin(), topics.group, topics.input).catch(() => ({
            state: 'Unknown',
            members: [],
          }));
        /** Every partition committed past where it was at `from`. */
        const pastOnEvery = async (from: Map<number, number>): Promise<boolean> => {
          const now = await byPartition();
          return Array.from({ length: PARTITIONS }, (_, p) => p).every(
            (p) => (now.get(p) ?? 0) > (from.get(p) ?? 0),
          );
        };
        const env = ctx.env({
          MEMBRANE_COMMIT_MAX_RECORDS: '20',
          MEMBRANE_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
          MEMBRANE_PROCESSING_GUARANTEE: guarantee,
          LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'warn',
        });
        // About 150 records/s, a tenth of them bad and a tenth dropped on purpose by the mapping.
        const load = startLoad(ctx.kafka, topics.input, orderMessages, {
          batch: 10,
          intervalMs: 60,
        });
        const a = startMembrane(env);
        const b = startMembrane(env);
        const all = [a, b];
        /** Both members in a stable group, each owning tasks, and every partition committing. */
        const bothWorking = async (): Promise<void> => {
          await until(
            'both members in a stable group, each owning tasks',
            async () => {
              const g = await group();
              return (
                g.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.length)
              );
            },
            all,
          );
          const from = await byPartition();
          await until('every partition committed again', () => pastOnEvery(from), all);
        };
        const recovery: number[] = [];
        /**
         * Freezes `frozen` until the group has evicted it and `other` owns every task — which
         * takes longer than the session timeout, since a frozen member sends no heartbeat — and,
         * when `progress`, until `other` has committed on every partition; then thaws it (without
         * `progress`, most likely while `other` still fences and restores the tasks it adopted)
         * and waits until both members work again.
         */
        const cycle = async (
          frozen: MembraneProcess,
          other: MembraneProcess,
          progress: boolean,
        ): Promise<void> => {
          const frozenAt = Date.now();
          await freeze(frozen);
          await until(
            'the other member alone in the group, owning every task',
            async () => {
              const g = await group();
              return (
                g.state === 'Stable' &&
                g.members[0]?.length === PARTITIONS &&
                g.members.length === 1
              );
            },
            [other],
          );
          const takeover = (Date.now() - frozenAt) / 1000;
          if (progress) {
            const from = await byPartition();
            await until('the other member committing on every partition', () => pastOnEvery(from), [
              other,
            ]);
          }
          const frozenFor = (Date.now() - frozenAt) / 1000;
          await thaw(frozen);
          const thawedAt = Date.now();
          await bothWorking();
          recovery.push((Date.now() - thawedAt) / 1000);
          const line = `frozen member ${frozen === a ? 'A' : 'B'}: taken over after ${takeover.toFixed(1)} s, thawed after ${frozenFor.toFixed(1)} s${progress ? '' : ' (right at the takeover)'}, both working ${(recovery.at(-1) ?? 0).toFixed(1)} s later`;
          process.stderr.write(
            `[freeze-thaw] ${line} (${await committed()} committed, ${load.acknowledged()} sent)\n`,
          );
        };

        try {
          await bothWorking();
          await cycle(a, b, true);
          await cycle(b, a, true);
          await cycle(a, b, false);
        } finally {
          await load.stop();
        }
        const total = load.acknowledged();
        await until(`all ${total} committed`, async () => (await committed()) >= total, all);
        const exits = [await stopMember(a), await stopMember(b)];
        // SCENARIO_DUMP=<folder>: both members' whole output, to read a failure afterwards.
        const dump = process.env['SCENARIO_DUMP'];
        if (dump)
          await Promise.all(
            [a, b].map((m, i) =>
              writeFile(join(dump, `freeze-thaw-${guarantee}-${'AB'[i] ?? i}.log`), m.output()),
            ),
          );

        const { accounting, clocks, idsTwice, outputs } = await accountToTheEnd(ctx.kafka, topics);
        task.meta.reliability = {
          scenario: `frozen past session timeout x3${exactlyOnce ? '' : ', at least once'}`,
          ...accounting,
          recovery,
          seconds: (Date.now() - started) / 1000,
        };
        task.meta.clocks = clocks;
        process.stderr.write(
          `[freeze-thaw] ${accounting.in} in, ${accounting.out} out, ${accounting.lost} lost, ${accounting.duplicated} duplicated, ${idsTwice} membrane.id written twice; clocks: ${clocks.aggregates} aggregates off (${clocks.back} back, ${clocks.repeated} repeated, ${clocks.skipped} skipped) ${clocks.examples.join(' | ')}; exits ${exits.join(', ')}\n`,
        );
        expect
          .soft(exits, `${a.output().slice(-3000)}\n${b.output().slice(-3000)}`)
          .toEqual([0, 0]);
        expect.soft(accounting.in).toBe(total);
        if (exactlyOnce) {
          expect.soft(idsTwice, 'membrane.id values written more than once').toBe(0);
          expect.soft(clocks.examples, 'aggregates whose clock did not count 1, 2, 3…').toEqual([]);
          expectConserved(accounting);
        } else {
          const violations = atLeastOnceClockViolations(outputs, 'legacy-erp');
          process.stderr.write(
            `[freeze-thaw] at least once: ${violations.length} records translated once with a clock at or below their aggregate's\n`,
          );
          expect.soft(violations.slice(0, 5), 'clocks that went back at least once').toEqual([]);
          expect(accounting.misplaced.slice(0, 10)).toEqual([]);
          expect(accounting.lost).toBe(0);
        }
      },
    );
  },
);
