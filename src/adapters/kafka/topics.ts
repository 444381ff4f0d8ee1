import kafkajs, { type Admin, type ITopicConfig } from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';
import { MembraneError, messageOf } from '../../core/errors.js';

export interface TopicSpec {
  readonly topic: string;
  readonly numPartitions: number;
  readonly replicationFactor?: number;
  readonly configEntries?: ITopicConfig['configEntries'];
}

/**
 * Which of `wanted` exist. A topic the principal may not describe is left out of
 * `listTopics` as if it did not exist, so each one missing from the list is asked for by
 * name: a topic that does not exist answers UNKNOWN_TOPIC_OR_PARTITION, one membrane is not
 * allowed to see TOPIC_AUTHORIZATION_FAILED, which is thrown (one sentence, exit 77) rather
 * than taken for "missing".
 */
export async function existingTopics(
  admin: Admin,
  wanted: readonly string[],
): Promise<Set<string>> {
  const listed = new Set(await admin.listTopics());
  const existing = new Set(wanted.filter((topic) => listed.has(topic)));
  for (const topic of new Set(wanted.filter((t) => !listed.has(t)))) {
    try {
      await admin.fetchTopicMetadata({ topics: [topic] });
      existing.add(topic); // created meanwhile
    } catch (error) {
      if ((error as { type?: unknown }).type !== 'UNKNOWN_TOPIC_OR_PARTITION') throw error;
    }
  }
  return existing;
}

/**
 * Creates the topics that do not exist yet and waits until every partition of every topic
 * has a leader. kafkajs's own `waitForLeaders` gives up on the UNKNOWN_TOPIC_OR_PARTITION
 * that a KRaft broker answers while new metadata propagates (kafkajs#815, #1563), so we
 * poll the metadata ourselves, tolerating exactly that.
 */
export async function ensureTopics(
  admin: Admin,
  specs: readonly TopicSpec[],
  timeoutMs = 30_000,
): Promise<void> {
  const existing = await existingTopics(
    admin,
    specs.map((spec) => spec.topic),
  );
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length > 0) {
    await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((spec) => ({
        topic: spec.topic,
        numPartitions: spec.numPartitions,
        replicationFactor: spec.replicationFactor ?? -1,
        ...(spec.configEntries ? { configEntries: spec.configEntries } : {}),
      })),
    });
  }
  const topics = specs.map((spec) => spec.topic);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const metadata = await admin.fetchTopicMetadata({ topics });
      const ready = metadata.topics.every(
        (topic) =>
          topic.partitions.length > 0 &&
          topic.partitions.every((partition) => partition.leader >= 0),
      );
      if (ready) return;
      last = 'some partitions have no leader yet';
    } catch (error) {
      last = messageOf(error);
    }
    await delay(100);
  }
  throw new MembraneError(
    'kafka.topics-not-ready',
    `Topics ${topics.join(', ')} have no leader for every partition after ${timeoutMs / 1000} s (${last}).`,
    { retriable: true },
  );
}

/** Kafka's default for `max.message.bytes` (the broker's `message.max.bytes`). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** Each topic's effective `max.message.bytes` (its own setting or the broker's default). */
export async function maxMessageBytes(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, number>> {
  const result = new Map<string, number>();
  if (topics.length === 0) return result;
  const { resources } = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({
      // kafkajs is CommonJS and Node's ESM loader does not see this export by name.
      type: kafkajs.ConfigResourceTypes.TOPIC,
      name,
      configNames: ['max.message.bytes'],
    })),
  });
  for (const resource of resources) {
    const entry = resource.configEntries.find((e) => e.configName === 'max.message.bytes');
    const value = Number(entry?.configValue);
    result.set(
      resource.resourceName,
      Number.isFinite(value) && value > 0 ? value : DEFAULT_MAX_MESSAGE_BYTES,
    );
  }
  return result;
}
