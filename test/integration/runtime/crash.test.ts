import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { waitFor } from '../../../src/infra/wait.js';
import { consumeUntil, createTopics, infra, testConsumer, testKafka } from '../../support/kafka.js';
import {
  committedTotal,
  expectClocksCountUp,
  expectEachSourceOnce,
  header,
} from '../../support/runtime.js';
import { startMembrane } from '../../support/membrane-process.js';
import {
  ORDER_KEYS,
  orderKind,
  orderMessages,
  orderTopics,
  type OrderTopics,
} from '../../support/orders.js';

const N = 3000;

describe('membrane run killed with SIGKILL mid-load', () => {
  const kafka = testKafka();
  let admin: Admin;
  let topics: OrderTopics;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topics = await orderTopics();
    drop = await createTopics(admin, [{ topic: topics.input, numPartitions: 3 }]);
  });

  afterAll(async () => {
    await drop();
    await admin
      .deleteTopics({ topics: [topics.placed, topics.cancelled, topics.quarantine] })
      .catch(() => undefined);
    await admin.disconnect();
  });

  const committed = (): Promise<number> => committedTotal(admin, topics.group, topics.input);

  it('loses nothing, duplicates nothing for read_committed readers, and its clocks continue', async () => {
    const env = {
      ...ORDER_KEYS,
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      MEMBRANE_GROUP_ID: topics.group,
      MEMBRANE_MAPPINGS: topics.mappings,
      MEMBRANE_QUARANTINE_TOPIC: topics.quarantine,
      MEMBRANE_HTTP_PORT: '0',
      MEMBRANE_COMMIT_MAX_RECORDS: '10',
      LOG_LEVEL: 'error',
    };
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

    // Exactly the expected records, each once.
    expect(outputs).toHaveLength(expectOut);
    expect(quarantined).toHaveLength(expectQuarantine);
    expectEachSourceOnce([...outputs, ...quarantined]);
    const ids = outputs.map((r) => header(r, 'membrane.id'));
    expect(new Set(ids).size).toBe(ids.length);

    expectClocksCountUp(outputs, 'legacy-erp');
  });
});
