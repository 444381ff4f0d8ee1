import type { Admin, Kafka, Producer } from 'kafkajs';
import type {
  ChangelogPort,
  InputPosition,
  OffsetsPort,
  TaskProducer,
  TopicRecords,
  TopicsPort,
} from '../../app/runtime/ports.js';
import { restorePartitions } from './restore.js';
import { sendSlices, type SizedTopicMessages } from './send-slices.js';
import { existingTopics } from './topics.js';

/**
 * How a task's kafkajs producer is made: transactional (bound to the task) for exactly-once,
 * idempotent for at-least-once. `CONCURRENT_TRANSACTIONS`, the usual answer right after a
 * commit, is retried from 20 ms rather than kafkajs's 300 ms.
 */
export function taskProducer(kafka: Kafka, transactionalId: string | undefined): Producer {
  return kafka.producer(
    transactionalId === undefined
      ? { idempotent: true, maxInFlightRequests: 1 }
      : {
          transactionalId,
          idempotent: true,
          maxInFlightRequests: 1,
          transactionTimeout: 60_000,
          retry: { initialRetryTime: 20, retries: 10, maxRetryTime: 2000 },
        },
  );
}

function asTopicMessages(records: readonly TopicRecords[]): SizedTopicMessages[] {
  return records.map(({ topic, messages, maxBatchBytes }) => ({
    topic,
    messages: [...messages],
    ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
  }));
}

/** Exactly-once: every commit one transaction holding the records and the input offsets. */
export class TransactionalTaskProducer implements TaskProducer {
  private readonly producer: Producer;
  private readonly groupId: string;

  constructor(kafka: Kafka, transactionalId: string, groupId: string) {
    this.producer = taskProducer(kafka, transactionalId);
    this.groupId = groupId;
  }

  async init(): Promise<void> {
    await this.producer.connect();
    // kafkajs registers the transactional ID only when the first transaction begins
    // (connect() gets a plain idempotent producer ID). Begin one now and drop it: the
    // InitProducerId this sends bumps the epoch, fencing every earlier owner, and makes the
    // coordinator abort what it left open — without it the changelog's last stable offset
    // stays behind that transaction until its timeout. Aborting an empty one sends nothing.
    await (await this.producer.transaction()).abort();
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    const transaction = await this.producer.transaction();
    try {
      for (const slice of sendSlices(asTopicMessages(records)))
        await transaction.sendBatch({ topicMessages: slice, acks: -1 });
      await transaction.sendOffsets({
        consumerGroupId: this.groupId,
        topics: [
          {
            topic: position.topic,
            partitions: [{ partition: position.partition, offset: position.offset }],
          },
        ],
      });
      await transaction.commit();
    } catch (error) {
      await transaction.abort().catch(() => undefined);
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }
}

/** At-least-once: records acknowledged first, then the offsets committed through the group. */
export class IdempotentTaskProducer implements TaskProducer {
  private readonly producer: Producer;
  private closed = false;
  private readonly commitOffsets: (position: InputPosition) => Promise<void>;
  private readonly revoked: AbortSignal;

  constructor(
    kafka: Kafka,
    commitOffsets: (position: InputPosition) => Promise<void>,
    revoked: AbortSignal,
  ) {
    this.producer = taskProducer(kafka, undefined);
    this.commitOffsets = commitOffsets;
    this.revoked = revoked;
  }

  async init(): Promise<void> {
    await this.producer.connect();
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    // Without a transaction, partitions succeed or fail one by one: the state (which says
    // "these IDs were emitted") goes only once the outputs are acknowledged, or a failed
    // output with a written state would be dropped as a duplicate when redelivered. Nothing
    // fences an at-least-once producer: once its task is revoked (the GROUP_JOIN of a
    // rebalance, which aborts `revoked` at once, before the chunk in flight ends), it writes
    // no state and commits no offset more. kafkajs would send them with the member's new
    // generation and the group would accept them, even with the partition owned elsewhere:
    // committed offsets would go back under the new owner. (The consumer's own retries stay
    // in the generation they began in: patches/kafkajs+2.2.4.patch, runner.commitOffsets.)
    for (const phase of [records.filter((r) => !r.state), records.filter((r) => r.state)]) {
      this.refuseIfClosed();
      for (const slice of sendSlices(asTopicMessages(phase)))
        await this.producer.sendBatch({ topicMessages: slice, acks: -1 });
    }
    this.refuseIfClosed();
    await this.commitOffsets(position);
  }

  private refuseIfClosed(): void {
    if (this.closed || this.revoked.aborted)
      throw new Error('the task was revoked or closed; its producer writes nothing more');
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.producer.disconnect().catch(() => undefined);
  }
}

/** Which topics exist, asked with an admin client. */
export function kafkaTopics(admin: Admin): TopicsPort {
  return {
    async missing(topics) {
      const existing = await existingTopics(admin, topics);
      return topics.filter((topic) => !existing.has(topic));
    },
  };
}

/** The group's committed offsets, read with an admin client. */
export function kafkaOffsets(admin: Admin, groupId: string): OffsetsPort {
  return {
    async committed(topics, partition) {
      const result = new Map<string, bigint>();
      const answer = await admin.fetchOffsets({ groupId, topics: [...topics] });
      for (const { topic, partitions } of answer)
        for (const entry of partitions)
          if (entry.partition === partition && BigInt(entry.offset) >= 0n)
            result.set(topic, BigInt(entry.offset));
      return result;
    },
  };
}

/**
 * Changelog partitions read with kafkajs, read_committed, to their end: only the task's
 * partition, in slices that leave the event loop free, resuming from `progress`, stopping
 * when `signal` aborts, and giving up (retriably, progress kept) after `timeoutMs`.
 */
export function kafkaChangelog(
  kafka: Kafka,
  groupPrefix: string,
  timeoutMs: number,
): ChangelogPort {
  return {
    async restore(topic, partition, apply, progress, signal) {
      const { records } = await restorePartitions(
        kafka,
        topic,
        [partition],
        (_, message) => {
          if (message.key === null) return;
          apply(
            message.key.toString('utf8'),
            message.value === null ? null : message.value.toString('utf8'),
            Number(message.timestamp),
          );
        },
        { groupPrefix, timeoutMs, signal, progress },
      );
      return { records };
    },
  };
}
