import type {
  ChangelogPort,
  InputPosition,
  OffsetsPort,
  TaskProducer,
  TopicRecords,
} from '../../../src/app/runtime/ports.js';
import type { Broker } from './broker.js';
import { connectionError, isFencing, protocolError, retriesExhausted } from './errors.js';
import type { Scheduler } from './scheduler.js';

/** Where a fault can be injected into a node's talk with the broker. */
export type FaultPoint = 'init' | 'produce' | 'commit' | 'offsets' | 'restore';

/** Counts of faults that actually fired, over every node of every run (coverage). */
export const fired = new Map<string, number>();
export function count(what: string, n = 1): void {
  if (n > 0) fired.set(what, (fired.get(what) ?? 0) + n);
}

/** The faults armed for one node; each fires once (then disarms). */
export class NodeFaults {
  /** The next N requests at each point fail with a retriable error. */
  readonly transient = new Map<FaultPoint, number>();
  /** The next N EndTxn(commit) are applied by the broker but their answer is lost. */
  ambiguousCommits = 0;
  /** The next changelog read takes this long (virtual ms). */
  slowRestoreMs = 0;
  /** Until then, the pipeline's registry is unreachable (a retriable MembraneError). */
  outageUntil = -1;
  /** After this many more records, the pipeline throws a non-retriable MembraneError. */
  midChunkAfter: number | undefined;
  /** The node dies (SIGKILL) as soon as its next transaction commit succeeded. */
  crashAfterCommit = false;
  /** The node stops (SIGSTOP) for `ms` just before its next request at `point`. */
  freezeAt: { readonly point: FaultPoint; readonly ms: number } | undefined;
  /**
   * At least once: the next N sends (one sendBatch each) reach some of their partitions and
   * not others (a leader moving), and fail with retries exhausted.
   */
  partialSends = 0;

  take(point: FaultPoint): boolean {
    const n = this.transient.get(point) ?? 0;
    if (n <= 0) return false;
    this.transient.set(point, n - 1);
    count(`transient ${point}`);
    return true;
  }

  clear(): void {
    this.transient.clear();
    this.ambiguousCommits = 0;
    this.slowRestoreMs = 0;
    this.outageUntil = -1;
    this.midChunkAfter = undefined;
    this.freezeAt = undefined;
    this.crashAfterCommit = false;
    this.partialSends = 0;
  }
}

/** Freezes the node here when a freeze is armed at `point`: its request goes out after it thaws. */
function maybeFreeze(env: NodeEnv, point: FaultPoint): void {
  const armed = env.faults.freezeAt;
  if (armed?.point !== point) return;
  env.faults.freezeAt = undefined;
  count(`freeze at ${point}`);
  env.sched.freeze(env.name, env.sched.now + armed.ms);
  env.sched.after(armed.ms, undefined, () => {
    env.sched.thaw(env.name);
  });
}

/** What the fakes need of the simulated process they run in. */
export interface NodeEnv {
  readonly name: string;
  readonly sched: Scheduler;
  readonly broker: Broker;
  readonly groupId: string;
  readonly faults: NodeFaults;
  /** The task partitions of the last assignment this node's consumer delivered. */
  assignedPartitions(): ReadonlySet<number>;
  violation(message: string): void;
  /** SIGKILL of this node. */
  crash(): void;
  /** Adds a line to the run's trace (when tracing). */
  trace(message: string): void;
}

function transientFault(env: NodeEnv, point: FaultPoint): void {
  if (!env.faults.take(point)) return;
  throw env.sched.random() < 0.5
    ? connectionError(point)
    : protocolError('CONCURRENT_TRANSACTIONS');
}

function flatten(records: readonly TopicRecords[]) {
  return records.map(({ topic, messages }) => ({
    topic,
    messages: messages.map((m) => ({
      key: m.key,
      value: m.value,
      headers: m.headers ?? {},
      partition: m.partition ?? 0,
    })),
  }));
}

let producerSeq = 0;

/**
 * The transactional task producer, as `TransactionalTaskProducer` drives kafkajs: init =
 * InitProducerId (fence + abort what was left open); commit = produce (AddPartitionsToTxn),
 * TxnOffsetCommit, EndTxn — separate requests, each its own step; on failure an abort.
 * Also checks the runtime's use of it: one init, never reused after a fence.
 */
export class SimTransactionalProducer implements TaskProducer {
  readonly id = ++producerSeq;
  private readonly env: NodeEnv;
  private readonly transactionalId: string;
  private readonly partition: number;
  private epoch: number | undefined;
  private inits = 0;
  private fenced = false;
  private closed = false;

  constructor(env: NodeEnv, transactionalId: string) {
    this.env = env;
    this.transactionalId = transactionalId;
    this.partition = Number(transactionalId.slice(transactionalId.lastIndexOf('.') + 1));
  }

  async init(revoked: AbortSignal): Promise<void> {
    const { env } = this;
    this.inits += 1;
    if (this.inits > 1)
      env.violation(`${env.name}: producer ${this.transactionalId} initialised twice`);
    await env.sched.op(env.name, () => undefined); // connect
    maybeFreeze(env, 'init');
    // As the real producer: revoked while connecting, it never sends the InitProducerId.
    if (revoked.aborted) throw new Error('the task was revoked before its producer fenced');
    // Checked when the InitProducerId goes out, not before the connect.
    if (!env.assignedPartitions().has(this.partition))
      env.violation(
        `${env.name}: initialised ${this.transactionalId} for a task not in its current assignment (would fence the owner)`,
      );
    this.epoch = await env.sched.op(env.name, () => {
      transientFault(env, 'init');
      return env.broker.initProducer(this.transactionalId);
    });
    env.trace(`${env.name} init ${this.transactionalId} epoch ${this.epoch}`);
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    const { env } = this;
    if (this.fenced)
      env.violation(`${env.name}: commit on producer ${this.transactionalId} after it was fenced`);
    if (this.closed)
      env.violation(`${env.name}: commit on closed producer ${this.transactionalId}`);
    const epoch = this.epoch ?? -1;
    const id = this.transactionalId;
    try {
      for (const { topic, messages } of flatten(records)) {
        maybeFreeze(env, 'produce');
        await env.sched.op(env.name, () => {
          transientFault(env, 'produce');
          env.broker.produceTxn(id, epoch, topic, messages);
        });
      }
      await env.sched.op(env.name, () => {
        env.broker.txnOffsets(
          id,
          epoch,
          env.groupId,
          position.topic,
          position.partition,
          Number(position.offset),
        );
      });
      maybeFreeze(env, 'commit');
      await env.sched.op(env.name, () => {
        transientFault(env, 'commit');
        if (env.faults.ambiguousCommits > 0) {
          env.faults.ambiguousCommits -= 1;
          count('ambiguous commit');
          env.broker.endTxn(id, epoch, true);
          throw retriesExhausted('EndTxn');
        }
        env.broker.endTxn(id, epoch, true);
      });
      env.trace(`${env.name} committed ${id} epoch ${epoch} up to ${position.offset}`);
      if (env.faults.crashAfterCommit) {
        env.faults.crashAfterCommit = false;
        count('crash after commit');
        env.crash();
      }
    } catch (error) {
      env.trace(`${env.name} commit of ${id} epoch ${epoch} failed: ${String(error)}`);
      if (isFencing(error)) {
        this.fenced = true;
        count('commit fenced');
      }
      await env.sched
        .op(env.name, () => {
          env.broker.endTxn(id, epoch, false);
        })
        .catch((e: unknown) => {
          if (isFencing(e)) this.fenced = true;
        });
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.env.sched.op(this.env.name, () => undefined);
  }
}

/**
 * At-least-once, as `AtLeastOnceTaskProducer` drives kafkajs: one sendBatch of the outputs
 * and quarantine records through an idempotent producer (a produce request per partition
 * leader: some can be written while another fails, `partialSends`); once it is acknowledged,
 * the state (the changelog records, flagged `state`) and the input offsets in one
 * transaction of the task's transactional producer, fenced like exactly-once's.
 */
export class SimAtLeastOnceProducer implements TaskProducer {
  private readonly env: NodeEnv;
  private readonly state: SimTransactionalProducer;
  private closed = false;

  constructor(env: NodeEnv, transactionalId: string) {
    this.env = env;
    this.state = new SimTransactionalProducer(env, transactionalId);
  }

  /** As the real producer: nothing more once it is closed. */
  private refuseIfClosed(): void {
    if (this.closed) {
      count('at-least-once commit stopped: producer closed');
      throw new Error('the task was closed; its producer writes nothing more');
    }
  }

  async init(revoked: AbortSignal): Promise<void> {
    await this.env.sched.op(this.env.name, () => {
      transientFault(this.env, 'init');
    });
    await this.state.init(revoked);
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    const { env } = this;
    const outputs = records.filter((r) => !r.state);
    this.refuseIfClosed();
    if (outputs.length > 0) {
      maybeFreeze(env, 'produce');
      await env.sched.op(env.name, () => {
        transientFault(env, 'produce');
        const partial = env.faults.partialSends > 0;
        if (partial) env.faults.partialSends -= 1;
        for (const { topic, messages } of flatten(outputs)) {
          // Per partition: each its own request (a partial send writes some of them).
          const byPartition = new Map<number, typeof messages>();
          for (const m of messages)
            byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
          for (const part of byPartition.values())
            if (!partial || env.sched.random() < 0.5) {
              env.broker.produce(topic, part);
              env.trace(
                `${env.name} wrote ${part.length} to ${topic} (chunk of ${position.partition} up to ${position.offset})`,
              );
            }
        }
        if (partial) {
          count('partial send');
          throw retriesExhausted('Produce');
        }
      });
    }
    this.refuseIfClosed();
    await this.state.commit(
      records.filter((r) => r.state),
      position,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.state.close();
  }
}

/** The group's committed offsets, as an admin OffsetFetch answers. */
export function simOffsets(env: NodeEnv): OffsetsPort {
  return {
    committed: (topics, partition) => {
      env.trace(`${env.name} reads the committed offsets of ${partition}`);
      maybeFreeze(env, 'offsets');
      return env.sched.op(env.name, () => {
        transientFault(env, 'offsets');
        const result = new Map<string, bigint>();
        for (const topic of topics) {
          const offset = env.broker.committedFor(topic, partition);
          if (offset !== undefined) result.set(topic, BigInt(offset));
        }
        return result;
      });
    },
  };
}

/**
 * A changelog partition read read_committed to the high watermark looked up at the start,
 * in slices; each slice is a request (a slow one when armed); an abort rejects at once.
 */
export function simChangelog(env: NodeEnv): ChangelogPort {
  return {
    async restore(topic, partition, apply, progress, signal) {
      const { sched, broker } = env;
      env.trace(`${env.name} restores ${topic}/${partition}`);
      maybeFreeze(env, 'restore');
      const end = await sched.op(
        env.name,
        () => {
          transientFault(env, 'restore');
          return broker.highWatermark(topic, partition);
        },
        sched.latency(),
        signal,
      );
      let records = 0;
      for (;;) {
        const from = Number(progress.get(partition) ?? 0n);
        if (from >= end) return { records };
        const slow = env.faults.slowRestoreMs;
        env.faults.slowRestoreMs = 0;
        if (slow > 0) count('slow restore');
        const read = await sched.op(
          env.name,
          () => broker.readCommitted(topic, partition, from, 20, end),
          sched.latency() + slow,
          signal,
        );
        if (signal.aborted) throw signal.reason as Error;
        if (read.records.length > 0) count('restored records');
        for (const entry of read.records) {
          apply(
            entry.key?.toString('utf8') ?? '',
            entry.value === null ? null : entry.value.toString('utf8'),
            Number(entry.timestamp),
          );
          progress.set(partition, BigInt(entry.offset) + 1n);
          records += 1;
        }
        if (read.next > from) progress.set(partition, BigInt(read.next));
        // Blocked by an open transaction below `end` (LSO): wait for it to end.
        else await sched.op(env.name, () => undefined, 100, signal);
      }
    },
  };
}
