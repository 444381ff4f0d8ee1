import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { waitFor } from '../../../src/infra/wait.js';
import { consumeUntil, createTopics, infra, testConsumer, testKafka } from '../../support/kafka.js';
import {
  committedTotal,
  expectClocksCountUp,
  expectEachSourceOnce,
} from '../../support/runtime.js';
import { startMembrane, type MembraneProcess } from '../../support/membrane-process.js';
import {
  ORDER_KEYS,
  orderKind,
  orderMessages,
  orderTopics,
  type OrderTopics,
} from '../../support/orders.js';

const N = 3000;
const STEP = 300;

describe('membrane run scaled 1 → 3 → 1 under load', () => {
  const kafka = testKafka();
  let admin: Admin;
  let topics: OrderTopics;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topics = await orderTopics();
    drop = await createTopics(admin, [{ topic: topics.input, numPartitions: 6 }]);
  });

  afterAll(async () => {
    await drop();
    await admin
      .deleteTopics({ topics: [topics.placed, topics.cancelled, topics.quarantine] })
      .catch(() => undefined);
    await admin.disconnect();
  });

  const committed = (): Promise<number> => committedTotal(admin, topics.group, topics.input);

  async function members(): Promise<number> {
    const { groups } = await admin.describeGroups([topics.group]);
    return groups[0]?.state === 'Stable' ? groups[0].members.length : -1;
  }

  it('loses and duplicates nothing, and every aggregate’s clock stays monotonic', async () => {
    const env = {
      ...ORDER_KEYS,
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      MEMBRANE_GROUP_ID: topics.group,
      MEMBRANE_MAPPINGS: topics.mappings,
      MEMBRANE_QUARANTINE_TOPIC: topics.quarantine,
      MEMBRANE_HTTP_PORT: '0',
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      LOG_LEVEL: 'error',
    };
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

    const kinds = Array.from({ length: N }, (_, i) => orderKind(i));
    const expectOut = kinds.filter((k) => k === 'placed' || k === 'cancelled').length;
    const expectQuarantine = kinds.filter((k) =>
      ['bad-signature', 'not-json', 'unknown-status'].includes(k),
    ).length;
    const outputs = await consumeUntil(
      testConsumer(kafka),
      [topics.placed, topics.cancelled],
      (r) => r.length >= expectOut,
    );
    const quarantined = await consumeUntil(
      testConsumer(kafka),
      [topics.quarantine],
      (r) => r.length >= expectQuarantine,
    );
    expect(outputs).toHaveLength(expectOut);
    expect(quarantined).toHaveLength(expectQuarantine);
    expectEachSourceOnce([...outputs, ...quarantined]);

    expectClocksCountUp(outputs, 'legacy-erp');
  });
});
