import { describe, expect, it } from 'vitest';
import {
  account,
  expectConserved,
  readTopic,
  type Accounting,
  type Fate,
} from '../support/conservation.js';
import { committedByPartition, stopMember } from '../support/freeze.js';
import type { Received } from '../support/kafka.js';
import { startLoad } from '../support/load.js';
import { startMembrane, type MembraneProcess } from '../support/membrane-process.js';
import { orderFate, orderKind, orderMessages, useOrderTopics } from '../support/orders.js';
import { header } from '../support/runtime.js';
import { committedOf, secondsUntilProgress, until } from '../support/scenario.js';

const seqOf = (r: Received): number => Number(header(r, 'x-test-seq'));

/**
 * Each output's vector clock against what it must be: every translated record of an order
 * (`placed` or `cancelled`, in upstream order) bumps the order's clock by one, including
 * those whose output went with the deleted topic. So an output's clock must be one more than
 * the number of translated records of its order before it upstream. Returns the outputs
 * whose clock is not that, described.
 */
function clocksOff(inputs: readonly Received[], outputs: readonly Received[]): string[] {
  const position = new Map<string, number>();
  const byOrder = new Map<string, number>();
  for (const r of [...inputs].sort(
    (a, b) => a.partition - b.partition || Number(a.message.offset) - Number(b.message.offset),
  )) {
    const kind = orderKind(seqOf(r));
    if (kind !== 'placed' && kind !== 'cancelled') continue;
    const order = r.message.key?.toString() ?? '';
    const n = (byOrder.get(order) ?? 0) + 1;
    byOrder.set(order, n);
    position.set(`${r.partition}/${r.message.offset}`, n);
  }
  const off: string[] = [];
  for (const r of outputs) {
    const source = `${header(r, 'membrane.source.partition') ?? '?'}/${header(r, 'membrane.source.offset') ?? '?'}`;
    const clock = (JSON.parse(header(r, 'membrane.vclock') ?? '{}') as Record<string, number>)[
      'legacy-erp'
    ];
    const expected = position.get(source);
    if (clock !== expected)
      off.push(`${source}: clock ${clock ?? '-'}, expected ${expected ?? '-'}`);
  }
  return off;
}

describe('an output topic deleted under load', () => {
  const ctx = useOrderTopics(3);

  it('stops membrane with one sentence and exit 1, committing nothing partial; recreated, it resumes and conserves', async ({
    task,
  }) => {
    const started = Date.now();
    const topics = ctx.topics();
    const admin = ctx.admin();
    const committed = committedOf(() => admin, topics.group, topics.input);
    // MEMBRANE_CREATE_TOPICS=true (the default): the restart recreates the deleted topic
    // with the settings it was first created with (MEMBRANE_TOPIC_PARTITIONS).
    const env = ctx.env({
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      MEMBRANE_CREATE_TOPICS: 'true',
      LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'error',
    });
    const load = startLoad(ctx.kafka, topics.input, orderMessages, { batch: 10, intervalMs: 40 });
    const recovery: number[] = [];
    const first = startMembrane(env);
    /**
     * Deletes the output under load, waits for membrane to stop, takes stock of what it had
     * committed, restarts it and lets it work on.
     */
    const deleteAndRestart = async (): Promise<{
      exit: number | null;
      partitions: [number, number];
      atStop: Map<number, number>;
      partial: Accounting;
      second: MembraneProcess;
    }> => {
      await until('600 committed', async () => (await committed()) >= 600, [first]);
      const metadata = await admin.fetchTopicMetadata({ topics: [topics.cancelled] });
      const partitionsBefore = metadata.topics[0]?.partitions.length ?? 0;
      // Under load, an operator (or a retention script gone wrong) deletes an output topic.
      // Auto-creation is off on the broker, so membrane's next write to it cannot succeed.
      await admin.deleteTopics({ topics: [topics.cancelled] });
      const deletedAt = Date.now();
      await until(
        'membrane stopped by itself',
        () => Promise.resolve(first.child.exitCode !== null || first.child.signalCode !== null),
        [first],
        90_000,
      );
      const exit = await first.exited;
      process.stderr.write(
        `[output-deleted] membrane exited ${String(exit)} ${((Date.now() - deletedAt) / 1000).toFixed(1)} s after the deletion, ${await committed()} committed, ${load.acknowledged()} sent\n`,
      );
      // What the group committed when membrane stopped: nothing at or above it may be in
      // any output or the quarantine, everything below it must be (but `cancelled` outputs,
      // which went with the topic).
      const atStop = await committedByPartition(admin, topics.group, topics.input);
      const [inputs, placed, quarantined] = await Promise.all(
        [topics.input, topics.placed, topics.quarantine].map((topic) =>
          readTopic(ctx.kafka, topic),
        ),
      );
      const below = (inputs ?? []).filter(
        (r) => Number(r.message.offset) < (atStop.get(r.partition) ?? 0),
      );
      const partial = account(below, placed ?? [], quarantined ?? [], (r) =>
        orderKind(seqOf(r)) === 'cancelled' ? { fate: 'drop' } : orderFate(seqOf(r)),
      );

      const before = await committed();
      const second = startMembrane(env);
      recovery.push(await secondsUntilProgress(committed, before, [second]));
      const recreated = await admin.fetchTopicMetadata({ topics: [topics.cancelled] });
      const partitionsAfter = recreated.topics[0]?.partitions.length ?? 0;
      const more = load.acknowledged() + 500;
      await until('500 more sent', () => Promise.resolve(load.acknowledged() >= more), [second]);
      return { exit, partitions: [partitionsBefore, partitionsAfter], atStop, partial, second };
    };
    let outcome: Awaited<ReturnType<typeof deleteAndRestart>>;
    try {
      outcome = await deleteAndRestart();
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    const { exit, partitions, atStop, partial, second: last } = outcome;
    const [partitionsBefore, partitionsAfter] = partitions;
    await until(`all ${total} committed`, async () => (await committed()) >= total, [last]);
    const lastExit = await stopMember(last);

    // Every upstream record, read to the end: a `cancelled` record committed before membrane
    // stopped had its output in the deleted topic — gone with it, and it must not appear in
    // the recreated one (that would be a record translated twice); any other record must be
    // where its fate says, once.
    const [inputs, placed, cancelled, quarantined] = await Promise.all(
      [topics.input, topics.placed, topics.cancelled, topics.quarantine].map((topic) =>
        readTopic(ctx.kafka, topic),
      ),
    );
    const goneWithTopic = (r: Received): boolean =>
      orderKind(seqOf(r)) === 'cancelled' &&
      Number(r.message.offset) < (atStop.get(r.partition) ?? 0);
    const gone = (inputs ?? []).filter(goneWithTopic).length;
    const fate = (r: Received): Fate => (goneWithTopic(r) ? { fate: 'drop' } : orderFate(seqOf(r)));
    const outputs = [...(placed ?? []), ...(cancelled ?? [])];
    const accounting = account(inputs ?? [], outputs, quarantined ?? [], fate);
    const off = clocksOff(inputs ?? [], outputs);
    task.meta.reliability = {
      scenario: 'output topic deleted under load',
      ...accounting,
      // The table's `dropped`: dropped by the mapping only; the outputs gone with the
      // deleted topic are reported apart.
      dropped: accounting.dropped - gone,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    const output = first.output();
    const sentence = output.split('\n').find((line) => line.startsWith('membrane: ')) ?? '';
    process.stderr.write(
      `[output-deleted] ${accounting.in} in, ${accounting.out} out, ${gone} outputs gone with the deleted topic, ${accounting.lost} lost, ${accounting.duplicated} duplicated, ${off.length} clocks off; at the stop: ${partial.lost} lost, ${partial.misplaced.length} misplaced; partitions ${partitionsBefore} → ${partitionsAfter}; said: ${sentence}\n`,
    );
    // Stopped with one sentence naming the problem and exit code 1: not 70 (a bug), no stack.
    expect(exit, output.slice(-4000)).toBe(1);
    expect(sentence, output.slice(-4000)).toMatch(/does not exist/);
    expect(output, 'a stack trace').not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    // Nothing partial: what was in the outputs when it stopped matches the committed offsets.
    expect(partial.misplaced.slice(0, 10)).toEqual([]);
    expect(partial.lost).toBe(0);
    expect(partial.duplicated).toBe(0);
    // Recreated as it was, resumed, and the end state conserved.
    expect(partitionsAfter).toBe(partitionsBefore);
    expect(lastExit, last.output().slice(-3000)).toBe(0);
    expect(gone).toBeGreaterThan(0);
    expect(off.slice(0, 10)).toEqual([]);
    expect(accounting.in).toBe(total);
    expectConserved(accounting);
  });
});
