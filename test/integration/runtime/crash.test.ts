import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../src/infra/wait.js';
import { committedTotal } from '../../support/runtime.js';
import { startMembrane } from '../../support/membrane-process.js';
import { expectOrdersTranslatedOnce, orderMessages, useOrderTopics } from '../../support/orders.js';

const N = 3000;

describe('membrane run killed with SIGKILL mid-load', () => {
  const ctx = useOrderTopics(3);
  const { kafka } = ctx;

  const committed = (): Promise<number> =>
    committedTotal(ctx.admin(), ctx.topics().group, ctx.topics().input);

  it('loses nothing, duplicates nothing for read_committed readers, and its clocks continue', async () => {
    const env = ctx.env({ MEMBRANE_COMMIT_MAX_RECORDS: '10', LOG_LEVEL: 'error' });
    const topics = ctx.topics();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N / 2) });

    const first = startMembrane(env);
    const progressed = await waitFor(
      async () => {
        if ((await committed()) < 200) throw new Error('not yet');
      },
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    expect(progressed.ok, first.output()).toBe(true);
    await producer.send({ topic: topics.input, messages: orderMessages(N / 2, N / 2) });
    first.child.kill('SIGKILL');
    await first.exited;
    const atKill = await committed();
    expect(atKill).toBeLessThan(N);
    await producer.disconnect();

    const second = startMembrane(env);
    const caughtUp = await waitFor(
      async () => {
        if ((await committed()) < N) throw new Error(`${await committed()} of ${N}`);
      },
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect(caughtUp.ok, second.output()).toBe(true);
    const stopAsked = Date.now();
    second.child.kill('SIGTERM');
    expect(await second.exited, second.output()).toBe(0);
    expect(Date.now() - stopAsked).toBeLessThan(30_000);

    await expectOrdersTranslatedOnce(kafka, ctx.topics(), N);
  });
});
