import type { Batch, BatchControl } from '../../../src/app/runtime/loop.js';
import type { InputRecord } from '../../../src/app/runtime/task.js';
import { tpKey, type Broker, type JoinAnswer } from './broker.js';
import { isRebalance, isUnknownMember, protocolError } from './errors.js';
import type { Scheduler } from './scheduler.js';

export interface ConsumerOptions {
  readonly heartbeatIntervalMs: number;
  /** A fetch with nothing to return waits this long (long poll) unless records arrive. */
  readonly maxWaitMs: number;
  /** The most records one batch holds. */
  readonly maxBatch: number;
}

export interface ConsumerHandlers {
  /** kafkajs's GROUP_JOIN event. */
  onJoin(memberId: string, assignment: Record<string, number[]>): void;
  /** kafkajs's eachBatch. */
  eachBatch(batch: Batch, control: BatchControl): Promise<void>;
  /** An eachBatch failure that is not a rebalance (kafkajs would crash and restart). */
  onCrash(error: unknown): void;
}

/**
 * A group consumer as kafkajs's runner behaves with autoCommit off and eachBatchAutoResolve
 * off: join (a new member ID when the old one is unknown), look up the committed offset of
 * every assigned partition when the assignment arrives, fetch read_committed from the fetch
 * positions, hand batches of all partitions concurrently to eachBatch, heartbeat between
 * fetches (and when the handler asks), rejoin when a heartbeat says the group moved on.
 * The fetch position of a partition moves with resolveOffset and seek; unresolved records
 * are fetched again. Pauses survive rebalances.
 */
export class SimConsumer {
  memberId: string | undefined;
  generation = -1;
  assignment: Record<string, number[]> = {};
  /** Where each fetch that returned records started (for scenario checks). */
  readonly fetchedFrom: number[] = [];
  /** Every member ID this consumer had, in order. */
  readonly memberIds: string[] = [];
  /** Bumped by every completed join: batches of an earlier one are stale. */
  joins = 0;
  needsJoin = true;
  running = true;
  private readonly name: string;
  private readonly sched: Scheduler;
  private readonly broker: Broker;
  private readonly options: ConsumerOptions;
  private readonly handlers: ConsumerHandlers;
  private readonly positions = new Map<string, number>();
  private readonly seekPending = new Set<string>();
  private readonly paused = new Set<string>();
  private lastHeartbeat = -Infinity;
  private wakeLoop: (() => void) | undefined;
  private done: Promise<void> = Promise.resolve();

  constructor(
    name: string,
    sched: Scheduler,
    broker: Broker,
    options: ConsumerOptions,
    handlers: ConsumerHandlers,
  ) {
    this.name = name;
    this.sched = sched;
    this.broker = broker;
    this.options = options;
    this.handlers = handlers;
  }

  /** Whether disconnect() was called (a method: it changes across awaits). */
  stopped(): boolean {
    return !this.running;
  }

  start(): void {
    this.done = this.loop();
  }

  /** Which task partitions the last delivered assignment holds. */
  assignedPartitions(): Set<number> {
    const out = new Set<number>();
    for (const partitions of Object.values(this.assignment)) for (const p of partitions) out.add(p);
    return out;
  }

  pause(topic: string, partitions: readonly number[]): void {
    for (const p of partitions) this.paused.add(tpKey(topic, p));
  }

  resume(topic: string, partitions: readonly number[]): void {
    for (const p of partitions) this.paused.delete(tpKey(topic, p));
    this.wakeLoop?.();
  }

  seek(topic: string, partition: number, offset: number): void {
    const key = tpKey(topic, partition);
    this.positions.set(key, offset);
    this.seekPending.add(key);
  }

  /** consumer.disconnect(): stop the runner after the batches in flight, leave the group. */
  async disconnect(): Promise<void> {
    this.running = false;
    this.wakeLoop?.();
    await this.done;
    const memberId = this.memberId;
    if (memberId !== undefined) {
      await this.sched.op(this.name, () => {
        this.broker.leave(memberId);
      });
    }
  }

  private *assigned(): Generator<[string, number, string]> {
    for (const [topic, partitions] of Object.entries(this.assignment))
      for (const p of partitions) yield [topic, p, tpKey(topic, p)];
  }

  private async loop(): Promise<void> {
    while (this.running) {
      if (this.needsJoin) {
        await this.join();
        continue;
      }
      if (this.sched.now - this.lastHeartbeat >= this.options.heartbeatIntervalMs) {
        await this.heartbeat().catch(() => undefined);
        continue;
      }
      if (!this.hasData()) {
        await this.waitForData();
        continue;
      }
      const batches = await this.sched.op(this.name, () => this.fetch());
      if (batches.length === 0 || this.stopped()) continue;
      const results = await Promise.allSettled(
        batches.map(({ batch, control }) => this.handlers.eachBatch(batch, control)),
      );
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        if (isRebalance(result.reason)) {
          this.needsJoin = true;
          if (isUnknownMember(result.reason)) this.memberId = undefined;
        } else {
          // kafkajs: the consumer crashes and restarts (rejoining the group).
          this.handlers.onCrash(result.reason);
          this.needsJoin = true;
        }
      }
    }
  }

  private async join(): Promise<void> {
    const answer = await new Promise<JoinAnswer>((resolve) => {
      void this.sched.op(this.name, () => {
        this.broker.join(this.name, this.memberId, (a) => {
          this.sched.after(this.sched.latency(), this.name, () => {
            resolve(a);
          });
        });
      });
    });
    if (this.memberIds.at(-1) !== answer.memberId) this.memberIds.push(answer.memberId);
    this.memberId = answer.memberId;
    this.generation = answer.generation;
    this.assignment = answer.assignment;
    this.joins += 1;
    this.needsJoin = false;
    this.lastHeartbeat = this.sched.now;
    this.positions.clear();
    this.seekPending.clear();
    this.handlers.onJoin(answer.memberId, answer.assignment);
    // Committed offsets are looked up now; a commit landing later is fetched again.
    const joins = this.joins;
    const committed = await this.sched.op(this.name, () =>
      [...this.assigned()].map(
        ([topic, p, key]) => [key, this.broker.committedFor(topic, p) ?? 0] as const,
      ),
    );
    if (this.joins !== joins) return;
    for (const [key, offset] of committed)
      if (!this.positions.has(key)) this.positions.set(key, offset);
  }

  private async heartbeat(): Promise<void> {
    this.lastHeartbeat = this.sched.now;
    const memberId = this.memberId ?? '';
    const generation = this.generation;
    try {
      await this.sched.op(this.name, () => {
        this.broker.heartbeat(memberId, generation);
      });
    } catch (error) {
      if (isRebalance(error) && this.generation === generation) {
        this.needsJoin = true;
        if (isUnknownMember(error)) this.memberId = undefined;
      }
      throw error;
    }
  }

  private hasData(): boolean {
    for (const [topic, p, key] of this.assigned()) {
      if (this.paused.has(key)) continue;
      const position = this.positions.get(key);
      if (position !== undefined && position < this.broker.lastStable(topic, p)) return true;
    }
    return false;
  }

  private async waitForData(): Promise<void> {
    const wait = Math.max(
      1,
      Math.min(
        this.options.maxWaitMs,
        this.lastHeartbeat + this.options.heartbeatIntervalMs - this.sched.now,
      ),
    );
    await new Promise<void>((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        unregister();
        timer.cancel();
        this.wakeLoop = undefined;
        resolve();
      };
      const unregister = this.broker.onData(() => {
        this.sched.after(this.sched.latency(), this.name, finish);
      });
      const timer = this.sched.after(wait, this.name, finish);
      this.wakeLoop = () => {
        this.sched.after(0, this.name, finish);
      };
    });
  }

  private fetch(): { batch: Batch; control: BatchControl }[] {
    const out: { batch: Batch; control: BatchControl }[] = [];
    const joins = this.joins;
    for (const [topic, partition, key] of this.assigned()) {
      if (this.paused.has(key)) continue;
      const position = this.positions.get(key);
      if (position === undefined) continue;
      this.seekPending.delete(key);
      const read = this.broker.readCommitted(topic, partition, position, this.options.maxBatch);
      if (read.records.length === 0) {
        if (read.next > position) this.positions.set(key, read.next);
        continue;
      }
      this.fetchedFrom.push(position);
      const messages: InputRecord[] = read.records.map((e) => ({
        offset: String(e.offset),
        timestamp: e.timestamp,
        key: e.key,
        value: e.value,
        headers: {},
      }));
      const batch: Batch = {
        topic,
        partition,
        messages,
        highWatermark: String(this.broker.highWatermark(topic, partition)),
      };
      out.push({ batch, control: this.control(topic, partition, key, joins) });
    }
    return out;
  }

  private control(topic: string, partition: number, key: string, joins: number): BatchControl {
    return {
      isRunning: () => this.running,
      isStale: () => this.seekPending.has(key) || this.needsJoin || this.joins !== joins,
      heartbeat: async () => {
        if (this.needsJoin) throw protocolError('REBALANCE_IN_PROGRESS');
        if (this.sched.now - this.lastHeartbeat < this.options.heartbeatIntervalMs) return;
        await this.heartbeat();
      },
      resolveOffset: (offset) => {
        // kafkajs resolves into the current generation's offset manager.
        if (!this.positions.has(key)) return;
        const next = Number(offset) + 1;
        if (next > (this.positions.get(key) ?? 0)) this.positions.set(key, next);
      },
      pause: () => {
        this.pause(topic, [partition]);
        return () => {
          this.resume(topic, [partition]);
        };
      },
      seek: (offset) => {
        this.seek(topic, partition, Number(offset));
      },
    };
  }
}
