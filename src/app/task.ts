import type { Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { sendSlices } from '../adapters/kafka/send-slices.js';
import { encodeQuarantine } from '../adapters/quarantine/codec.js';
import { isMembraneError, MembraneError, messageOf } from '../core/errors.js';
import type { SourceRecord } from '../core/records.js';
import { formatClock, parseClock } from '../core/vector-clock.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import { TransactionalClocks, TransactionalDedup } from '../pipeline/ports.js';
import type { Metrics } from './metrics.js';

/**
 * How a task's producer is made: transactional (bound to the task) for exactly-once,
 * idempotent for at-least-once. `CONCURRENT_TRANSACTIONS`, the usual answer right after a
 * commit, is retried from 20 ms rather than kafkajs's 300 ms.
 */
export function taskProducers(kafka: Kafka): (transactionalId: string | undefined) => Producer {
  return (transactionalId) =>
    kafka.producer(
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

/** What a task needs from the runtime. */
export interface TaskContext {
  readonly groupId: string;
  readonly quarantineTopic: string;
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => Date;
  /** How many emitted IDs a task remembers to drop redeliveries. */
  readonly dedupWindow: number;
  /** Commits consumer offsets outside a transaction (at-least-once). */
  commitOffsets(topic: string, partition: number, offset: string): Promise<void>;
}

export interface ChunkOutcome {
  /** How many leading messages of the chunk are committed. */
  readonly committed: number;
  /** Why the rest was not: a transient failure to retry after a pause. */
  readonly retry: MembraneError | undefined;
}

/** Kafka errors that mean another member now owns this task's transactional ID. */
const FENCED = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);

function kafkaErrorType(error: unknown): string | undefined {
  if (
    error !== null &&
    typeof error === 'object' &&
    'type' in error &&
    typeof error.type === 'string'
  )
    return error.type;
  return undefined;
}

/** Changelog keys: a prefix tells a vector clock (by aggregate) from a remembered ID. */
export const stateKey = {
  CLOCK: 'c|',
  ID: 'd|',
  clock: (aggregate: string): string => `c|${aggregate}`,
  id: (id: string): string => `d|${id}`,
};

/** The compacted topic holding a mapping's task state, one partition per task. */
export function changelogTopic(groupId: string, mapping: string): string {
  return `${groupId}.${mapping}.clocks`;
}

export function toSourceRecord(
  topic: string,
  partition: number,
  message: KafkaMessage,
): SourceRecord {
  return {
    topic,
    partition,
    offset: message.offset,
    timestamp: message.timestamp,
    key: message.key,
    value: message.value,
    headers: message.headers ?? {},
  };
}

/**
 * A task: partition p of a mapping's inputs, with its state (vector clocks) and, for
 * exactly-once, its own transactional producer. The transactional ID is bound to the task,
 * not the process (kafkajs has no KIP-447): whoever owns the task next fences the old owner.
 * All work on a task runs one chunk at a time.
 */
export class Task {
  readonly key: string;
  readonly clocks = new TransactionalClocks();
  readonly dedup: TransactionalDedup;
  private readonly pipeline: Pipeline;
  readonly partition: number;
  private readonly context: TaskContext;
  private readonly createProducer: (transactionalId: string | undefined) => Producer;
  private producer: Producer | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private restoringPromise: Promise<void> = Promise.resolve();
  /** Whether the task's state is back (see `restoring`). */
  restored = true;

  /** Settles once the task's state is restored; no record is processed before. */
  get restoring(): Promise<void> {
    return this.restoringPromise;
  }

  set restoring(promise: Promise<void>) {
    this.restored = false;
    this.restoringPromise = promise.then(() => {
      this.restored = true;
    });
  }
  /** The compacted topic its clocks are kept in (partition = the task's partition). */
  readonly changelog: string;

  constructor(
    pipeline: Pipeline,
    partition: number,
    context: TaskContext,
    createProducer: (transactionalId: string | undefined) => Producer,
  ) {
    this.pipeline = pipeline;
    this.partition = partition;
    this.context = context;
    this.createProducer = createProducer;
    this.key = `${pipeline.name}/${partition}`;
    this.changelog = changelogTopic(context.groupId, pipeline.name);
    this.dedup = new TransactionalDedup(context.dedupWindow);
  }

  /**
   * Starts the producer now: for exactly-once, initialising the task's transactional ID
   * fences a previous owner and aborts what it left open, so the changelog can be read to
   * its end.
   */
  async fence(): Promise<void> {
    await this.exclusive(() => this.ensureProducer());
  }

  get transactionalId(): string {
    return `${this.context.groupId}.${this.pipeline.name}.${this.partition}`;
  }

  /** Runs `work` after everything queued before it on this task. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async ensureProducer(): Promise<Producer> {
    if (this.producer) return this.producer;
    const producer = this.createProducer(
      this.context.guarantee === 'exactly_once' ? this.transactionalId : undefined,
    );
    try {
      await producer.connect();
      if (this.context.guarantee === 'exactly_once') {
        // kafkajs registers the transactional ID only when the first transaction begins
        // (connect() gets a plain idempotent producer ID). Begin one now and drop it: the
        // InitProducerId this sends bumps the epoch, fencing the previous owner, and makes
        // the coordinator abort whatever it left open — without it the changelog's last
        // stable offset stays behind that transaction until its timeout (60 s) expires.
        // Aborting an empty transaction sends nothing.
        await (await producer.transaction()).abort();
      }
    } catch (error) {
      await producer.disconnect().catch(() => undefined);
      throw new MembraneError(
        'kafka.producer-unavailable',
        `Cannot start the producer of task ${this.key}: ${messageOf(error)}`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
    this.producer = producer;
    return producer;
  }

  private rollback(): void {
    this.clocks.rollback();
    this.dedup.rollback();
  }

  /**
   * Per input topic, the offset this task's partition is committed up to, as far as the task
   * knows: set when the task is adopted (after the fence, so the previous owner's last
   * transaction is settled) and after each of its own commits. The consumer looks positions
   * up when partitions are assigned; if a commit landed after that (the previous owner's,
   * or this member's own chunk in flight during a rebalance), it fetches records again that
   * are already translated. They are skipped, not translated twice.
   */
  private readonly committedUpTo = new Map<string, bigint>();

  resumeFrom(topic: string, offset: string): void {
    const at = BigInt(offset);
    if (at > (this.committedUpTo.get(topic) ?? -1n)) this.committedUpTo.set(topic, at);
  }

  /** How many leading records of a batch are below what is already committed. */
  alreadyCommitted(topic: string, messages: readonly KafkaMessage[]): number {
    const upTo = this.committedUpTo.get(topic);
    const first = messages[0];
    if (upTo === undefined || first === undefined || BigInt(first.offset) >= upTo) return 0;
    const at = messages.findIndex((m) => BigInt(m.offset) >= upTo);
    return at === -1 ? messages.length : at;
  }

  /** Applies one changelog record (on restore). */
  restoreRecord(key: string, value: string | null): void {
    if (key.startsWith(stateKey.CLOCK)) {
      const clock = value === null ? undefined : parseClock(value);
      if (clock) this.clocks.restore(key.slice(stateKey.CLOCK.length), clock);
    } else if (key.startsWith(stateKey.ID)) {
      this.dedup.restore(key.slice(stateKey.ID.length), value !== null);
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  /**
   * Processes messages of one topic-partition of this task and commits the results with the
   * input offsets. Bad records become quarantine records; a transient failure stops the chunk
   * there, commits what came before, and is returned for the caller to retry.
   */
  async processChunk(
    topic: string,
    messages: readonly KafkaMessage[],
    budgetMs = Infinity,
  ): Promise<ChunkOutcome> {
    const { metrics, logger } = this.context;
    const mapping = this.pipeline.name;
    const byTopic = new Map<string, Message[]>();
    const push = (target: string, message: Message): void => {
      let list = byTopic.get(target);
      if (!list) byTopic.set(target, (list = []));
      list.push(message);
    };
    const counts = {
      out: new Map<string, number>(),
      quarantined: new Map<string, number>(),
      dropped: new Map<string, number>(),
    };
    const bump = (map: Map<string, number>, label: string): void => {
      map.set(label, (map.get(label) ?? 0) + 1);
    };
    const quarantinedAt = this.context.now().toISOString();

    let processed = 0;
    let retry: MembraneError | undefined;
    // Past the budget, the chunk ends and commits: a large backlog still goes out in
    // transactions at least every `budgetMs`, so each record waits for at most that much
    // processing of others before it becomes visible.
    const deadline = performance.now() + budgetMs;
    for (const message of messages) {
      if (processed > 0 && (processed & 63) === 0 && performance.now() > deadline) break;
      const source = toSourceRecord(topic, this.partition, message);
      let result;
      try {
        result = await this.pipeline.process(source, this.clocks, this.dedup);
      } catch (error) {
        if (isMembraneError(error) && error.retriable) {
          retry = error;
          break;
        }
        throw error;
      }
      if (result.kind === 'pass') {
        for (const output of result.outputs) {
          push(output.topic, { key: output.key, value: output.value, headers: output.headers });
          bump(counts.out, output.topic);
        }
      } else if (result.kind === 'quarantine') {
        const entry = {
          source: {
            topic,
            partition: this.partition,
            offset: message.offset,
            timestamp: message.timestamp,
          },
          mapping: this.pipeline.ref,
          stage: result.stage,
          issues: result.issues,
          id: result.id,
          quarantinedAt,
          attempt: 1,
        };
        const encoded = encodeQuarantine(source, entry);
        push(this.context.quarantineTopic, {
          key: encoded.key,
          value: encoded.value,
          headers: encoded.headers,
        });
        const code = result.issues[0]?.code ?? result.stage;
        bump(counts.quarantined, code);
        logger.warn(
          {
            task: this.key,
            topic,
            partition: this.partition,
            offset: message.offset,
            mapping: this.pipeline.ref,
            code,
            stage: result.stage,
          },
          'record quarantined',
        );
      } else {
        bump(counts.dropped, result.reason);
      }
      processed += 1;
    }
    if (processed === 0) {
      this.rollback();
      return { committed: 0, retry };
    }
    const last = messages[processed - 1];
    const nextOffset = (BigInt(last?.offset ?? '0') + 1n).toString();
    // The state this chunk changed goes to the changelog in the same transaction.
    for (const [aggregate, clock] of this.clocks.changes()) {
      push(this.changelog, {
        key: stateKey.clock(aggregate),
        value: formatClock(clock),
        partition: this.partition,
      });
    }
    for (const id of this.dedup.added())
      push(this.changelog, { key: stateKey.id(id), value: '1', partition: this.partition });
    for (const id of this.dedup.evictions())
      push(this.changelog, { key: stateKey.id(id), value: null, partition: this.partition });
    const topicMessages = [...byTopic].map(([target, list]) => ({ topic: target, messages: list }));

    const timer = metrics.transactionSeconds.startTimer({ mapping });
    try {
      const producer = await this.ensureProducer();
      if (this.context.guarantee === 'exactly_once') {
        const transaction = await producer.transaction();
        try {
          for (const slice of sendSlices(topicMessages))
            await transaction.sendBatch({ topicMessages: slice, acks: -1 });
          await transaction.sendOffsets({
            consumerGroupId: this.context.groupId,
            topics: [{ topic, partitions: [{ partition: this.partition, offset: nextOffset }] }],
          });
          await transaction.commit();
        } catch (error) {
          await transaction.abort().catch(() => undefined);
          throw error;
        }
      } else {
        for (const slice of sendSlices(topicMessages))
          await producer.sendBatch({ topicMessages: slice, acks: -1 });
        await this.context.commitOffsets(topic, this.partition, nextOffset);
      }
    } catch (error) {
      timer();
      this.rollback();
      const type = kafkaErrorType(error);
      if (type !== undefined && FENCED.has(type)) {
        // Another member owns this task now; this one must not write again.
        await this.close();
        return {
          committed: 0,
          retry: new MembraneError(
            'kafka.fenced',
            `Task ${this.key} was fenced by a newer owner (${type})`,
            { retriable: true, cause: error },
          ),
        };
      }
      await this.close();
      return {
        committed: 0,
        retry: isMembraneError(error)
          ? error
          : new MembraneError(
              'kafka.transaction-failed',
              `Committing task ${this.key} failed: ${messageOf(error)}`,
              { retriable: true, cause: error },
            ),
      };
    }
    timer();
    this.clocks.commit();
    this.dedup.commit();
    this.resumeFrom(topic, nextOffset);
    metrics.recordsIn.inc({ mapping }, processed);
    for (const [target, n] of counts.out) metrics.recordsOut.inc({ mapping, topic: target }, n);
    for (const [code, n] of counts.quarantined) metrics.quarantined.inc({ mapping, code }, n);
    for (const [reason, n] of counts.dropped) metrics.dropped.inc({ mapping, reason }, n);
    return { committed: processed, retry };
  }
}
