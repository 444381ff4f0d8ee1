import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import type { Clock } from './ports.js';
import type { InputRecord } from './task.js';
import type { TaskManager } from './task-manager.js';

/** A fetched batch of one input topic-partition. */
export interface Batch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly InputRecord[];
  readonly highWatermark: string;
}

/** What the fetch loop lets a batch handler do (kafkajs's EachBatchPayload fits). */
export interface BatchControl {
  /** False once the consumer stops. */
  isRunning(): boolean;
  /** True when a seek or rebalance made this batch's remaining records obsolete. */
  isStale(): boolean;
  /** Keeps the membership alive; throws when the group rebalances (let it propagate). */
  heartbeat(): Promise<void>;
  /** Marks records up to `offset` as done for the fetch loop. */
  resolveOffset(offset: string): void;
  /** Pauses this partition; returns what resumes it. */
  pause(): () => void;
  /** Makes the next fetch of this partition start at `offset`. */
  seek(offset: string): void;
}

export interface LoopOptions {
  readonly manager: TaskManager;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  /** At most this many records in one transaction. */
  readonly maxRecords: number;
  /** A chunk commits once it has used this much processing time. */
  readonly commitIntervalMs: number;
  readonly isStopping: () => boolean;
}

/**
 * The process → commit half of the poll → process → commit loop (the fetch loop polls and
 * hands each batch here): wait for the batch's task to be adopted, skip what is already
 * committed, then process and commit chunk after chunk. A failed chunk rolled itself back;
 * here it is retried after a backoff (transient), or its task is closed (migrated), or
 * membrane stops (fatal). Heartbeat failures propagate, so the fetch loop rejoins the group.
 */
export class BatchLoop {
  private readonly options: LoopOptions;

  constructor(options: LoopOptions) {
    this.options = options;
  }

  async handle(batch: Batch, control: BatchControl): Promise<void> {
    const { manager, clock } = this.options;
    if (batch.messages.length === 0) return;
    let task = manager.taskFor(batch.topic, batch.partition);
    // No record before the task's state is back; keep the membership alive meanwhile. With
    // nothing pending (never expected), a plain sleep: a wait that resolves at once would spin
    // without yielding to I/O, starving the heartbeats and the adoption it waits for.
    while (task && !task.running && !task.closed) {
      await control.heartbeat();
      const pending = manager.adoption(task);
      await (pending ? Promise.race([pending, clock.sleep(1000)]) : clock.sleep(100));
      if (!control.isRunning() || control.isStale() || this.options.isStopping()) return;
      task = manager.taskFor(batch.topic, batch.partition);
    }
    if (!task?.running) {
      // Not ours (revoked, lost, migrated): never process it; fetch it again only after the
      // next assignment.
      control.pause();
      manager.pausedFor(batch.topic, batch.partition);
      return;
    }
    const owner = task;
    const timer = this.options.metrics.batchSeconds.startTimer({ mapping: owner.pipeline.name });
    try {
      await owner.exclusive(() => this.process(owner, batch, control));
    } finally {
      timer();
    }
  }

  private async process(
    task: NonNullable<ReturnType<TaskManager['taskFor']>>,
    batch: Batch,
    control: BatchControl,
  ): Promise<void> {
    const { manager, metrics, logger, clock } = this.options;
    let messages = batch.messages;
    const skipped = task.alreadyCommitted(batch.topic, messages);
    if (skipped > 0) {
      logger.info(
        { task: task.key, topic: batch.topic, partition: batch.partition, records: skipped },
        'skipping records already committed',
      );
      control.resolveOffset(messages[skipped - 1]?.offset ?? '0');
      messages = messages.slice(skipped);
    }
    while (
      messages.length > 0 &&
      task.running &&
      !task.abort.signal.aborted &&
      control.isRunning() &&
      !control.isStale() &&
      !this.options.isStopping()
    ) {
      const chunk = messages.slice(0, this.options.maxRecords);
      const outcome = await task.process(batch.topic, chunk, this.options.commitIntervalMs);
      if (outcome.committed > 0) {
        const last = chunk[outcome.committed - 1];
        control.resolveOffset(last?.offset ?? '0');
        messages = messages.slice(outcome.committed);
        const labels = { topic: batch.topic, partition: String(batch.partition) };
        metrics.lagRecords.set(
          labels,
          Math.max(0, Number(batch.highWatermark) - Number(last?.offset ?? 0) - 1),
        );
        metrics.lagSeconds.set(
          labels,
          Math.max(0, (clock.now() - Number(last?.timestamp ?? 0)) / 1000),
        );
      }
      const failure = outcome.failure;
      if (failure?.kind === 'transient') {
        task.failures += 1;
        task.failingSince ??= clock.now();
        const delay = manager.backoff(task.failures);
        metrics.retries.inc({ mapping: task.pipeline.name, code: failure.error.code });
        logger.warn(
          {
            task: task.key,
            topic: batch.topic,
            partition: batch.partition,
            offset: messages[0]?.offset,
            code: failure.error.code,
            attempt: task.failures,
            retryInMs: delay,
          },
          `retrying after a transient failure: ${failure.error.message}`,
        );
        // Give the partition back to the fetch loop (so heartbeats and other partitions go
        // on): pause it, fetch again from the first record not committed after the backoff.
        const resume = control.pause();
        control.seek(messages[0]?.offset ?? '0');
        void clock.sleep(delay).then(resume);
        return;
      }
      if (failure) {
        // Uncertain, migrated or fatal: this task does not go on. Fetch again from the first
        // record not known committed once a task is running for the partition again.
        control.seek(messages[0]?.offset ?? '0');
        // Unless a rebalance mid-chunk already put a new task on the partition (kafkajs can
        // rejoin while a batch is in flight): then the partition is that task's to fetch.
        const current = manager.taskFor(batch.topic, batch.partition);
        if (current === undefined || current === task) {
          control.pause();
          manager.pausedFor(batch.topic, batch.partition);
        }
        await manager.handle(task, failure);
        return;
      }
      await control.heartbeat();
    }
  }
}
