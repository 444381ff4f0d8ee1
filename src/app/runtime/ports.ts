/**
 * The small ports through which the runtime's tasks talk to Kafka. The real adapters wrap
 * kafkajs (`src/adapters/kafka/task-ports.ts`); the deterministic simulation
 * (`test/app/runtime/simulation/`) implements the same ports over an in-memory broker.
 * Nothing here knows kafkajs.
 */

/** One record to write. `partition` is set for changelog records (the task's partition). */
export interface OutRecord {
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
  readonly partition?: number;
}

export interface TopicRecords {
  readonly topic: string;
  readonly messages: readonly OutRecord[];
  /** The task's state changelog: at-least-once writes it only after the outputs are acknowledged. */
  readonly state?: boolean;
  /** The topic's `max.message.bytes`: no produce call sends it more (less the batch header). */
  readonly maxBatchBytes?: number;
}

/** The input position a chunk commits: the next offset to read of `topic`/`partition`. */
export interface InputPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/**
 * A task's producer, transactional with an ID bound to the task in both guarantees, so that
 * initialising it fences every earlier owner and aborts the transaction it left open.
 * Exactly-once, the transaction holds everything a chunk writes; at-least-once, only the
 * state and the input position — the outputs go first, through an idempotent producer, and
 * may repeat, but a member that lost the task can never write its state or offsets again.
 */
export interface TaskProducer {
  /**
   * Connects, then registers the transactional ID (InitProducerId), fencing earlier owners.
   * Called once, when the task is adopted for the current assignment, never to "retry" a
   * fenced producer. When `revoked` aborted before the InitProducerId is sent (the task was
   * revoked while connecting), it throws instead of sending it: a task no longer assigned
   * here must not fence its new owner.
   */
  init(revoked: AbortSignal): Promise<void>;
  /**
   * Writes `records` and commits `position` as the group's offset: all in one transaction
   * (exactly-once), or the outputs acknowledged first, then the state (records flagged
   * `state`) and the position in one transaction (at-least-once). Throws what the client
   * threw; the runtime classifies it (transient, migrated, fatal).
   */
  commit(records: readonly TopicRecords[], position: InputPosition): Promise<void>;
  /** Releases the producer; never throws. */
  close(): Promise<void>;
}

export interface TaskProducerOptions {
  readonly guarantee: 'exactly_once' | 'at_least_once';
  /** Bound to the task: `<group>.<mapping>.<partition>`. */
  readonly transactionalId: string;
}

/** Reads the group's committed input offsets (after the fence, they are settled). */
export interface OffsetsPort {
  /** Per topic, the committed offset of `partition` (absent: nothing committed yet). */
  committed(topics: readonly string[], partition: number): Promise<ReadonlyMap<string, bigint>>;
}

/** Where a restore stands: the next changelog offset to read, per partition. */
export type RestoreProgress = Map<number, bigint>;

/** Reads a task's changelog partition to its end, read_committed. */
export interface ChangelogPort {
  /**
   * Hands every record of `partition` of `topic` from `progress` (or the beginning) to the
   * end to `apply` (with the record's timestamp, ms), updating `progress` as it goes so that a retry resumes. Stops promptly,
   * throwing, when `signal` aborts.
   */
  restore(
    topic: string,
    partition: number,
    apply: (key: string, value: string | null, timestamp: number) => void,
    progress: RestoreProgress,
    signal: AbortSignal,
  ): Promise<{ readonly records: number }>;
}

/** Time, injectable so that the simulation decides when timers fire. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once (rejecting) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** What a task asks the cluster when a commit failed. */
export interface TopicsPort {
  /** Those of `topics` that do not exist (deleted under membrane, say). */
  missing(topics: readonly string[]): Promise<string[]>;
}

/** Everything a task needs from Kafka. */
export interface TaskPorts {
  /** The task's producer (see {@link TaskProducerOptions}). */
  createProducer(options: TaskProducerOptions): TaskProducer;
  readonly offsets: OffsetsPort;
  readonly topics: TopicsPort;
  readonly changelog: ChangelogPort;
  readonly clock: Clock;
}

/** What the task manager asks of the group consumer. */
export interface ConsumerPort {
  pause(topic: string, partitions: readonly number[]): void;
  resume(topic: string, partitions: readonly number[]): void;
}
