import { describe, expect, it } from 'vitest';
import { consumeUntil, testConsumer } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderFate, orderMessages, useOrderTopics } from '../../support/orders.js';
import { expectClocksCountUp } from '../../support/runtime.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';
import { changelogTopic } from '../../../src/app/runtime/state.js';

const FIRST = 20;
const SECOND = 20;

/**
 * Found by a review (review11b): membrane reads its own state changelog through the same
 * process-wide decoder limits as its inputs. When the broker compresses the changelog (a
 * cluster-wide `compression.type`, or one set on the topic) and one transaction's changelog
 * batch holds more records than MEMBRANE_MAX_BATCH_RECORDS, the restore got the record
 * standing for the refused batch — no key — and skipped it: the task's vector clocks and dedup
 * window were lost, silently, and every aggregate's clock started again at 1. membrane now
 * stops instead (kafka.batch-refused, naming the batch and the limits), translating nothing
 * with lost state; with the limit raised it restores everything and the clocks go on.
 */
describe('a refused batch in the state changelog', () => {
  const ctx = useOrderTopics(1);

  it('stops membrane instead of restoring past it; with the limit raised, the clocks go on', async () => {
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
    const env = (limit: string): NodeJS.ProcessEnv =>
      ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn', MEMBRANE_MAX_BATCH_RECORDS: limit });
    const committed = committedOf(() => admin, topics.group, topics.input);
    await catchUpAndStop(spawnCli(['run'], env('5')), committed, FIRST);
    await producer.send({ topic: topics.input, messages: orderMessages(FIRST, SECOND, 2) });
    await producer.disconnect();

    // The changelog batch now holds more than 5 records: restoring past it would lose them.
    const refused = spawnCli(['run'], env('5'));
    const code = await refused.exited;
    expect(code, refused.output()).toBe(1);
    expect(refused.output()).toMatch(
      /will not decode the batch at offsets \d+–\d+ of \S+\.clocks partition 0 .*reading past it would lose what it holds/,
    );
    expect(refused.output()).toMatch(/MEMBRANE_MAX_BATCH_RECORDS/);
    expect(await committed()).toBe(FIRST);

    await catchUpAndStop(spawnCli(['run'], env('1000000')), committed, FIRST + SECOND);
    const expected = Array.from({ length: FIRST + SECOND }, (_, i) => i).filter(
      (i) => orderFate(i).fate === 'output',
    );
    const outputs = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.placed, topics.cancelled],
      (r) => r.length >= expected.length,
    );
    expect(outputs).toHaveLength(expected.length);
    expectClocksCountUp(outputs, 'legacy-erp');
  });
});
