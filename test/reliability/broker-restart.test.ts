import { setTimeout as delay } from 'node:timers/promises';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/adapters/kafka/client.js';
import { expectConserved } from '../support/conservation.js';
import { createTopics } from '../support/kafka.js';
import { startLoad } from '../support/load.js';
import { startMembrane } from '../support/membrane-process.js';
import {
  accountForOrders,
  ORDER_KEYS,
  orderMessages,
  orderTopics,
  type OrderTopics,
} from '../support/orders.js';
import { ownBroker, type OwnBroker } from '../support/own-broker.js';
import { infra } from '../support/kafka.js';
import { catchUpAndStop, committedOf, secondsUntilProgress, until } from '../support/scenario.js';

/** How long the broker stays stopped: the fault itself, not a wait for anything. */
const DOWN_MS = 20_000;

describe('the broker stopped and restarted under load', () => {
  let broker: OwnBroker;
  let kafka: Kafka;
  let admin: Admin;
  let topics: OrderTopics;

  beforeAll(async () => {
    // A broker of this test's own: stopping the shared one would fail every other test.
    broker = await ownBroker();
    kafka = createKafka({ brokers: broker.brokers, clientId: 'membrane-test' });
    admin = kafka.admin();
    await admin.connect();
    topics = await orderTopics();
    await createTopics(admin, [{ topic: topics.input, numPartitions: 3 }]);
  }, 180_000);

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
    ...ORDER_KEYS,
    KAFKA_BROKERS: broker.brokers.join(','),
    SCHEMA_REGISTRY_URL: infra().registryUrl,
    MEMBRANE_GROUP_ID: topics.group,
    MEMBRANE_MAPPINGS: topics.mappings,
    MEMBRANE_QUARANTINE_TOPIC: topics.quarantine,
    MEMBRANE_HTTP_PORT: '0',
    MEMBRANE_COMMIT_MAX_RECORDS: '20',
    LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'error',
    ...extra,
  });

  afterAll(async () => {
    await admin.disconnect().catch(() => undefined);
    await broker.close();
  });

  it('loses nothing and duplicates nothing, and resumes on its own', async ({ task }) => {
    const started = Date.now();
    const committed = committedOf(() => admin, topics.group, topics.input);
    const load = startLoad(kafka, topics.input, orderMessages, { batch: 10, intervalMs: 40 });
    const member = startMembrane(env());
    const recovery: number[] = [];
    // A failure says what the broker was doing too: membrane cannot be faulted for a broker
    // that did not come back.
    const withBrokerStatus = async (error: unknown): Promise<never> => {
      throw new Error(`${(error as Error).message}\n--- ${await broker.status()}`, {
        cause: error,
      });
    };
    try {
      // A controlled shutdown, then a crash; each time the broker stays away for DOWN_MS
      // (longer than membrane's session timeout) while the load keeps trying to produce.
      for (const how of ['graceful', 'crash'] as const) {
        const target = (await committed()) + 500;
        await until(`${target} committed`, async () => (await committed()) >= target, [
          member,
        ]).catch(withBrokerStatus);
        const before = await committed();
        await broker.stop(how);
        const down = Date.now();
        await delay(DOWN_MS);
        await broker.start();
        process.stderr.write(
          `[broker] ${how} stop: down ${((Date.now() - down) / 1000).toFixed(1)} s, ${before} committed before, ${load.acknowledged()} sent\n`,
        );
        recovery.push(
          await secondsUntilProgress(committed, before, [member]).catch(withBrokerStatus),
        );
      }
      const more = load.acknowledged() + 500;
      await until('500 more sent', () => Promise.resolve(load.acknowledged() >= more), [member]);
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    await catchUpAndStop(member, committed, total);

    const accounting = await accountForOrders(kafka, topics);
    task.meta.reliability = {
      scenario: 'broker stopped, crashed, restarted',
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    // Sends the broker never acknowledged may still have landed: never fewer than acknowledged.
    expect(accounting.in).toBeGreaterThanOrEqual(total);
    expectConserved(accounting);
  });

  it('exits when told to stop while the broker is gone, instead of lingering', async () => {
    const group = `${topics.group}-stop`;
    const member = startMembrane(
      env({ MEMBRANE_GROUP_ID: group, MEMBRANE_SHUTDOWN_TIMEOUT_MS: '3000' }),
    );
    await until(
      'membrane joined',
      async () => {
        const { groups } = await admin.describeGroups([group]);
        return groups[0]?.state === 'Stable' && groups[0].members.length === 1;
      },
      [member],
    );
    await broker.stop('crash');
    // Told to stop once it has noticed: kafkajs is reconnecting in the background by then.
    await until(
      'membrane noticed',
      () => Promise.resolve(member.output().includes('ECONNREFUSED')),
      [member],
    );
    member.child.kill('SIGTERM');
    await until(
      'membrane exited by itself',
      () => Promise.resolve(member.child.exitCode !== null),
      [member],
      60_000,
    );
    // 0 when leaving the group gave up at once, 1 when it ran into MEMBRANE_SHUTDOWN_TIMEOUT_MS.
    expect([0, 1]).toContain(await member.exited);
  });
});
