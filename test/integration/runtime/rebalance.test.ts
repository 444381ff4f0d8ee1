import { describe, expect, it } from 'vitest';
import { waitFor } from '../../../src/infra/wait.js';
import { committedTotal } from '../../support/runtime.js';
import { startMembrane, type MembraneProcess } from '../../support/membrane-process.js';
import { expectOrdersTranslatedOnce, orderMessages, useOrderTopics } from '../../support/orders.js';

const N = 3000;
const STEP = 300;

describe('membrane run scaled 1 → 3 → 1 under load', () => {
  const ctx = useOrderTopics(6);
  const { kafka } = ctx;

  const committed = (): Promise<number> =>
    committedTotal(ctx.admin(), ctx.topics().group, ctx.topics().input);

  async function members(): Promise<number> {
    const { groups } = await ctx.admin().describeGroups([ctx.topics().group]);
    return groups[0]?.state === 'Stable' ? groups[0].members.length : -1;
  }

  it('loses and duplicates nothing, and every aggregate’s clock stays monotonic', async () => {
    const env = ctx.env({ MEMBRANE_COMMIT_MAX_RECORDS: '20', LOG_LEVEL: 'error' });
    const topics = ctx.topics();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    let sent = 0;
    const send = async (): Promise<void> => {
      await producer.send({ topic: topics.input, messages: orderMessages(sent, STEP) });
      sent += STEP;
    };
    const until = async (
      what: string,
      check: () => Promise<boolean>,
      all: MembraneProcess[],
    ): Promise<void> => {
      const result = await waitFor(
        async () => {
          if (!(await check())) throw new Error(what);
        },
        { timeoutMs: 90_000, intervalMs: 200 },
      );
      expect(result.ok, `${what}\n${all.map((m) => m.output()).join('\n')}`).toBe(true);
    };

    const a = startMembrane(env);
    await send();
    await until('a started', async () => (await committed()) > 0, [a]);
    const b = startMembrane(env);
    const c = startMembrane(env);
    await send();
    await until('three members', async () => (await members()) === 3, [a, b, c]);
    await send();
    await send();
    await until('three members working', async () => (await committed()) >= sent / 2, [a, b, c]);
    b.child.kill('SIGTERM');
    c.child.kill('SIGTERM');
    expect(await b.exited, b.output()).toBe(0);
    expect(await c.exited, c.output()).toBe(0);
    while (sent < N) await send();
    await producer.disconnect();
    await until('all committed', async () => (await committed()) >= N, [a]);
    a.child.kill('SIGTERM');
    expect(await a.exited, a.output()).toBe(0);

    await expectOrdersTranslatedOnce(kafka, ctx.topics(), N);
  });
});
