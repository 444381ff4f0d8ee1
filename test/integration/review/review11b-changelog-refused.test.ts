import { describe, expect, it } from 'vitest';
import { consumeUntil, testConsumer } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderFate, orderMessages, useOrderTopics } from '../../support/orders.js';
import { header } from '../../support/runtime.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';
import { changelogTopic } from '../../../src/app/runtime/state.js';

const FIRST = 20;
const SECOND = 20;

/**
 * review11b, PROBLEM: membrane reads its own state changelog through the same process-wide
 * decoder limits as its inputs. When the broker compresses the changelog (a cluster-wide
 * `compression.type`, or one set on the topic) and one transaction's changelog batch holds
 * more records than MEMBRANE_MAX_BATCH_RECORDS, the restore gets the stand-in record for the
 * refused batch — no key — and the changelog port skips records without a key, silently: the
 * task's vector clocks (and dedup window) are lost, and after a restart every aggregate's
 * clock starts again at 1. Nothing is logged or quarantined.
 */
describe('review11b: a refused batch in the state changelog', () => {
  const ctx = useOrderTopics(1);

  it('PROBLEM: is skipped on restore, and the clocks start again', async () => {
    const topics = ctx.topics();
    const admin = ctx.admin();
    // The changelog as membrane would make it, but compressed by the broker.
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic: changelogTopic(topics.group, 'legacy-orders'),
          numPartitions: 1,
          configEntries: [
            { name: 'cleanup.policy', value: 'compact' },
            { name: 'compression.type', value: 'gzip' },
          ],
        },
      ],
    });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, FIRST, 2) });
    const env = ctx.env({
      PATH: process.env['PATH'],
      LOG_LEVEL: 'warn',
      MEMBRANE_MAX_BATCH_RECORDS: '5',
    });
    const committed = committedOf(() => admin, topics.group, topics.input);
    await catchUpAndStop(spawnCli(['run'], env), committed, FIRST);
    await producer.send({ topic: topics.input, messages: orderMessages(FIRST, SECOND, 2) });
    await producer.disconnect();
    const second = spawnCli(['run'], env);
    await catchUpAndStop(second, committed, FIRST + SECOND);

    const expected = Array.from({ length: FIRST + SECOND }, (_, i) => i).filter(
      (i) => orderFate(i).fate === 'output',
    );
    const outputs = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.placed, topics.cancelled],
      (r) => r.length >= expected.length,
    );
    expect(outputs).toHaveLength(expected.length);
    const byAggregate = new Map<string, [number, number][]>();
    for (const r of outputs) {
      const clock = JSON.parse(header(r, 'membrane.vclock') ?? '{}') as Record<string, number>;
      const key = header(r, 'membrane.aggregate') ?? '';
      byAggregate.set(key, [
        ...(byAggregate.get(key) ?? []),
        [Number(header(r, 'membrane.source.offset')), clock['legacy-erp'] ?? 0],
      ]);
    }
    for (const list of byAggregate.values()) {
      const clocks = list.sort(([a], [b]) => a - b).map(([, c]) => c);
      // Should count 1, 2, 3…; it starts again at 1 after the restart.
      const firstAfterRestart = list.findIndex(([offset]) => offset >= FIRST);
      expect(firstAfterRestart).toBeGreaterThan(0);
      expect(clocks[firstAfterRestart]).toBe(1);
      expect(clocks).not.toEqual(clocks.map((_, i) => i + 1));
    }
  });
});
