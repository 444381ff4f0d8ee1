import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachMessagePayload, Kafka, KafkaMessage } from 'kafkajs';
import { inject } from 'vitest';
import { createKafka } from '../../src/adapters/kafka/client.js';
import { ensureTopics } from '../../src/adapters/kafka/topics.js';
import { waitFor } from '../../src/infra/wait.js';

/** The broker and registry the global setup found or started. */
export function infra(): { brokers: readonly string[]; registryUrl: string; source: string } {
  return inject('infra');
}

export function testKafka(clientId = 'membrane-test'): Kafka {
  return createKafka({ brokers: infra().brokers, clientId });
}

/** A topic name no other test (or earlier run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Creates topics, waits for their leaders, and returns a function that deletes them again. */
export async function createTopics(
  admin: Admin,
  topics: readonly { topic: string; numPartitions?: number }[],
): Promise<() => Promise<void>> {
  await ensureTopics(
    admin,
    topics.map(({ topic, numPartitions }) => ({ topic, numPartitions: numPartitions ?? 1 })),
  );
  return async () => {
    await admin.deleteTopics({ topics: topics.map((t) => t.topic) });
  };
}

/**
 * A consumer for tests: short fetch waits, so `disconnect()` (which waits for the fetch in
 * flight) returns quickly once the test has what it waited for.
 */
export function testConsumer(
  kafka: Kafka,
  options: { groupId?: string; readUncommitted?: boolean } = {},
): Consumer {
  return kafka.consumer({
    groupId: options.groupId ?? uniqueName('reader'),
    readUncommitted: options.readUncommitted ?? false,
    maxWaitTimeInMs: 250,
  });
}

export interface Received {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/**
 * Runs `consumer` over `topics` from the beginning and resolves once `done(received)` holds
 * (a condition, never a fixed sleep). Stops the consumer before returning.
 */
export async function consumeUntil(
  consumer: Consumer,
  topics: readonly string[],
  done: (received: readonly Received[]) => boolean,
  timeoutMs = 60_000,
): Promise<Received[]> {
  const received: Received[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [...topics], fromBeginning: true });
  await consumer.run({
    eachMessage: ({ topic, partition, message }: EachMessagePayload) => {
      received.push({ topic, partition, message });
      return Promise.resolve();
    },
  });
  const result = await waitFor(
    () =>
      done(received)
        ? Promise.resolve(true)
        : Promise.reject(new Error(`${received.length} received so far`)),
    { timeoutMs, intervalMs: 50 },
  );
  await consumer.disconnect();
  if (!result.ok) throw new Error(`condition not met: ${result.reason}`);
  return received;
}
