import type { Admin, Kafka, Producer } from 'kafkajs';
import type {
  ChangelogPort,
  InputPosition,
  OffsetsPort,
  TaskProducer,
  TopicRecords,
  TopicsPort,
} from '../../app/runtime/ports.js';
import { requireDecoded, restorePartitions } from './restore.js';
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

  async init(revoked: AbortSignal): Promise<void> {
    await this.producer.connect();
    // Revoked while connecting: the fence below would hit the task's new owner.
    if (revoked.aborted) throw new Error('the task was revoked before its producer fenced');
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

  /**
   * Sends outside any transaction, through the producer's idempotent producer ID (kafkajs
   * gives a transactional producer one of its own for plain sends): acknowledged at once,
   * never fenced, never aborted.
   */
  async sendOutside(records: readonly TopicRecords[]): Promise<void> {
    for (const slice of sendSlices(asTopicMessages(records)))
      await this.producer.sendBatch({ topicMessages: slice, acks: -1 });
  }

  async close(): Promise<void> {
    await this.producer.disconnect().catch(() => undefined);
  }
}

/**
 * At-least-once: the outputs (and quarantine records) through an idempotent producer,
 * acknowledged first; then the state and the input position in one transaction of the task's
 * transactional producer. Downstream sees the outputs at once (no transaction to wait for),
 * and they may repeat after a failure; but the state and the offsets are fenced exactly as
 * exactly-once's are: a member that lost the task (dropped while frozen, revoked mid-chunk)
 * can no longer write either once the new owner initialised the ID, so the changelog never
 * takes a zombie's older clocks after the new owner's, and the group's offsets never go back.
 */
export class AtLeastOnceTaskProducer implements TaskProducer {
  /** One kafkajs producer, hence one set of connections: plain sends and the transaction. */
  private readonly state: TransactionalTaskProducer;
  private closed = false;

  constructor(kafka: Kafka, transactionalId: string, groupId: string) {
    this.state = new TransactionalTaskProducer(kafka, transactionalId, groupId);
  }

  async init(revoked: AbortSignal): Promise<void> {
    await this.state.init(revoked);
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    // Partitions of a plain send succeed or fail one by one: the state (which says "these IDs
    // were emitted") goes only once every output is acknowledged, or a failed output with a
    // written state would be dropped as a duplicate when redelivered. A chunk in flight when
    // its task is revoked commits like exactly-once's: before the new owner's fence, which
    // then reads what it committed, or refused by it.
    this.refuseIfClosed();
    await this.state.sendOutside(records.filter((r) => !r.state));
    this.refuseIfClosed();
    await this.state.commit(
      records.filter((r) => r.state),
      position,
    );
  }

  private refuseIfClosed(): void {
    if (this.closed) throw new Error('the task was closed; its producer writes nothing more');
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.state.close();
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
          requireDecoded(topic, partition, message);
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
