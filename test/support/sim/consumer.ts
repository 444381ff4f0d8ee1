import type { Batch, BatchControl } from '../../../src/app/runtime/loop.js';
import type { InputRecord } from '../../../src/app/runtime/task.js';
import kafkajs from 'kafkajs';
import { tpKey, type Broker, type JoinAnswer } from './broker.js';
import { isRebalance, isUnknownMember, protocolError, retriesExhausted } from './errors.js';
import { count } from './ports.js';
import type { Scheduler } from './scheduler.js';

const { KafkaJSNonRetriableError } = kafkajs;

/** What kafkajs's consumer throws from pause, resume, seek and commitOffsets while it has no consumer group (between a crash and the restart, and after disconnect). */
function notInitialized(): Error {
  return new KafkaJSNonRetriableError(
    'Consumer group was not initialized, consumer#run must be called first',
  );
}

/** The error a consumer crash armed by the schedule shows as (a heartbeat whose retries ran out). */
const crashErrors = new WeakSet<object>();
export function isInjectedCrash(error: unknown): boolean {
  return typeof error === 'object' && error !== null && crashErrors.has(error);
}

export interface ConsumerOptions {
  readonly heartbeatIntervalMs: number;
  /** A fetch with nothing to return waits this long (long poll) unless records arrive. */
  readonly maxWaitMs: number;
  /** The most records one batch holds. */
  readonly maxBatch: number;
  /**
   * The old model: a batch is stale after any rebalance too. kafkajs's isStale is only
   * `hasSeekOffset` (true while a seek of that partition is pending): the default.
   */
  readonly staleAfterRebalance?: boolean;
}

export interface ConsumerHandlers {
  /** kafkajs's GROUP_JOIN event. */
  onJoin(memberId: string, assignment: Record<string, number[]>): void;
  /** kafkajs's eachBatch. */
  eachBatch(batch: Batch, control: BatchControl): Promise<void>;
  /** An eachBatch failure that is not a rebalance (kafkajs would crash and restart). */
  onCrash(error: unknown): void;
  /** kafkajs's CRASH event with `restart: true`: the consumer is down until it restarts. */
  onRestart?(phase: 'crashed' | 'restarted'): void;
}

/**
 * A group consumer as kafkajs's runner behaves with autoCommit off and eachBatchAutoResolve
 * off: join (a new member ID when the old one is unknown), look up the committed offset of
 * every assigned partition when the assignment arrives, fetch read_committed from the fetch
 * positions, hand batches of all partitions concurrently to eachBatch, heartbeat between
 * fetches (and when the handler asks), rejoin when a heartbeat says the group moved on.
 * The fetch position of a partition moves with resolveOffset and seek; unresolved records
 * are fetched again. Pauses survive rebalances.
 *
 * As kafkajs, and unlike a consumer that joins only between batches:
 * - isStale() is only "a seek of this partition is pending" (kafkajs's hasSeekOffset), and a
 *   pending seek survives a rejoin (applied at the next fetch if the partition is assigned);
 * - resolveOffset writes into the current generation's positions, whatever generation the
 *   batch came from (kafkajs: the offset manager made by the last SyncGroup);
 * - a join can run while batches are in flight (`rejoin`: kafkajs's other fetcher running
 *   joinAndSync from recoverFromFetch on a stale-metadata error), emitting GROUP_JOIN with the
 *   same member ID when the group still knows it, a new one when it was removed;
 * - a SyncGroup can be refused (the broker's `refuseSync`): the join is retried after a
 *   backoff with the same member ID, the generation missed;
 * - a crash with restart (`crash`): after the batches in flight, the runner stops and leaves
 *   the group (LeaveGroup, unless the broker is unreachable), the consumer has no group
 *   (pause, resume, seek, commitOffsets throw "Consumer group was not initialized") until,
 *   a retry time later, a new one starts with nothing paused, no seek, and no member ID.
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
  /** Seeks not yet applied by a fetch (kafkajs's seekOffset map: it survives rejoins). */
  private readonly seeks = new Map<string, number>();
  private readonly paused = new Set<string>();
  private lastHeartbeat = -Infinity;
  private wakeLoop: (() => void) | undefined;
  private done: Promise<void> = Promise.resolve();
  /** The join in progress (one at a time: a concurrent rejoin and the loop's share it). */
  private joining: Promise<void> | undefined;
  /** No consumer group (crashed, not restarted yet; or disconnected). */
  down = false;
  /** Bumped by every restart: a batch of an earlier incarnation pauses nothing now. */
  private incarnation = 0;
  /** A crash armed by the schedule: it happens once the batches in flight settled. */
  private crashArmed: { readonly retryMs: number; readonly leaves: boolean } | undefined;
  /** A rejoin armed by the schedule: it starts while the next fetched batches are in flight. */
  private rejoinArmed: number | undefined;
  /** A freeze armed by the schedule: right after the next batches are handed out, then a rejoin. */
  private freezeRejoinArmed: number | undefined;
  /** Batches handed to eachBatch and not settled. */
  private inFlight = 0;

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

  /** consumer.pause (throws while there is no consumer group, as kafkajs's does). */
  pause(topic: string, partitions: readonly number[]): void {
    if (this.down) throw notInitialized();
    for (const p of partitions) this.paused.add(tpKey(topic, p));
  }

  /** consumer.resume (throws while there is no consumer group, as kafkajs's does). */
  resume(topic: string, partitions: readonly number[]): void {
    if (this.down) throw notInitialized();
    for (const p of partitions) this.paused.delete(tpKey(topic, p));
    this.wakeLoop?.();
  }

  /** consumer.seek: applied by the next fetch (throws while there is no consumer group). */
  seek(topic: string, partition: number, offset: number): void {
    if (this.down) throw notInitialized();
    this.seeks.set(tpKey(topic, partition), offset);
  }

  /**
   * Arms a kafkajs CRASH with restart: once the batches in flight settled, the runner stops
   * and leaves the group (unless `leaves` is false: the broker was unreachable), and a new
   * consumer group starts `retryMs` later. The next heartbeat (between batches or asked by a
   * batch) fails as the cause.
   */
  crash(retryMs: number, leaves: boolean): void {
    if (!this.running || this.down) return;
    this.crashArmed = { retryMs, leaves };
    this.wakeLoop?.();
  }

  /** Arms a rejoin that starts `delayMs` after the next batches are handed out, while in flight. */
  armRejoin(delayMs: number): void {
    if (this.inFlight > 0) {
      this.sched.after(delayMs, this.name, () => {
        this.rejoin();
      });
      return;
    }
    this.rejoinArmed = delayMs;
  }

  /**
   * Arms a stop of the process (SIGSTOP) for `ms` right after the next batches are handed out;
   * as it thaws, with those batches still in flight, it rejoins (a new member ID when the
   * group dropped it meanwhile).
   */
  armFreezeRejoin(ms: number): void {
    this.freezeRejoinArmed = ms;
  }

  /**
   * joinAndSync now, whatever is in flight (kafkajs's recoverFromFetch on another fetcher):
   * GROUP_JOIN reaches the task manager while batches of the previous generation run on.
   */
  rejoin(): void {
    if (!this.running || this.down || this.joining) return;
    count('rejoin mid-batch');
    void this.joinOnce();
  }

  /** consumer.disconnect(): stop the runner after the batches in flight, leave the group. */
  async disconnect(): Promise<void> {
    this.running = false;
    this.wakeLoop?.();
    await this.done;
    const memberId = this.memberId;
    this.down = true;
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
      if (this.crashArmed) {
        await this.crashAndRestart(this.crashArmed);
        continue;
      }
      if (this.needsJoin) {
        await this.joinOnce();
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
      if (this.rejoinArmed !== undefined) {
        const delay = this.rejoinArmed;
        this.rejoinArmed = undefined;
        this.sched.after(delay, this.name, () => {
          this.rejoin();
        });
      }
      if (this.freezeRejoinArmed !== undefined) {
        const ms = this.freezeRejoinArmed;
        this.freezeRejoinArmed = undefined;
        count('freeze mid-batch');
        this.sched.freeze(this.name, this.sched.now + ms);
        this.sched.after(ms, undefined, () => {
          this.sched.thaw(this.name);
          this.sched.after(this.sched.int(0, 20), this.name, () => {
            this.rejoin();
          });
        });
      }
      this.inFlight = batches.length;
      const results = await Promise.allSettled(
        batches.map(({ batch, control }) => this.handlers.eachBatch(batch, control)),
      );
      this.inFlight = 0;
      for (const result of results) {
        if (result.status === 'fulfilled') continue;
        if (isRebalance(result.reason)) {
          this.needsJoin = true;
          if (isUnknownMember(result.reason)) this.memberId = undefined;
        } else if (isInjectedCrash(result.reason)) {
          // The armed crash, surfacing through a batch's heartbeat: it happens next.
        } else {
          // kafkajs: the consumer crashes and restarts (rejoining the group).
          this.handlers.onCrash(result.reason);
          this.needsJoin = true;
        }
      }
    }
  }

  private joinOnce(): Promise<void> {
    if (this.joining) return this.joining;
    const joining = this.join().finally(() => {
      if (this.joining === joining) this.joining = undefined;
    });
    this.joining = joining;
    return joining;
  }

  private async join(): Promise<void> {
    const incarnation = this.incarnation;
    const answer = await new Promise<JoinAnswer>((resolve) => {
      void this.sched.op(this.name, () => {
        this.broker.join(this.name, this.memberId, (a) => {
          this.sched.after(this.sched.latency(), this.name, () => {
            resolve(a);
          });
        });
      });
    });
    // A crash meanwhile: this consumer group is gone; the restarted one joins afresh.
    if (incarnation !== this.incarnation || this.down) return;
    if (answer.error) {
      // SyncGroup refused (the group moved on meanwhile): kafkajs's retrier joins again with
      // the same member ID after a backoff. This member missed the generation.
      count('sync refused');
      this.memberId = answer.memberId;
      this.needsJoin = true;
      await this.sched.op(this.name, () => undefined, this.sched.int(100, 3_000));
      return;
    }
    if (this.inFlight > 0)
      count(
        answer.memberId === this.memberId
          ? 'GROUP_JOIN mid-batch (same member)'
          : 'GROUP_JOIN mid-batch (new member ID)',
      );
    if (this.memberIds.at(-1) !== answer.memberId) this.memberIds.push(answer.memberId);
    this.memberId = answer.memberId;
    this.generation = answer.generation;
    this.assignment = answer.assignment;
    this.joins += 1;
    this.needsJoin = false;
    this.lastHeartbeat = this.sched.now;
    this.positions.clear();
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

  private async crashAndRestart(armed: {
    readonly retryMs: number;
    readonly leaves: boolean;
  }): Promise<void> {
    this.crashArmed = undefined;
    count('consumer crash');
    // runner.stop: the batches in flight have settled (the loop awaited them); LeaveGroup.
    const memberId = this.memberId;
    if (armed.leaves && memberId !== undefined)
      await this.sched.op(this.name, () => {
        this.broker.leave(memberId);
      });
    // consumerGroup = null; CRASH (restart: true); a new consumer group `retryMs` later. A
    // rejoin of the old group still waiting is forgotten (its answer, if any, is ignored).
    this.joining = undefined;
    this.down = true;
    this.incarnation += 1;
    this.handlers.onRestart?.('crashed');
    await this.sched.op(this.name, () => undefined, armed.retryMs);
    if (!this.running) return;
    this.down = false;
    this.paused.clear();
    this.seeks.clear();
    this.positions.clear();
    this.memberId = undefined;
    this.needsJoin = true;
    this.lastHeartbeat = -Infinity;
    this.handlers.onRestart?.('restarted');
  }

  private async heartbeat(): Promise<void> {
    if (this.crashArmed) {
      const error = retriesExhausted('Heartbeat');
      crashErrors.add(error);
      throw error;
    }
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
    // kafkajs's seekOffsets: pending seeks of assigned partitions move their positions.
    for (const [, , key] of this.assigned()) {
      const seek = this.seeks.get(key);
      if (seek === undefined) continue;
      this.seeks.delete(key);
      this.positions.set(key, seek);
    }
    for (const [topic, partition, key] of this.assigned()) {
      if (this.paused.has(key)) continue;
      const position = this.positions.get(key);
      if (position === undefined) continue;
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
    const incarnation = this.incarnation;
    const mine = (): boolean => incarnation === this.incarnation;
    return {
      isRunning: () => this.running && mine(),
      isStale: () =>
        this.seeks.has(key) ||
        (this.options.staleAfterRebalance === true && (this.needsJoin || this.joins !== joins)),
      heartbeat: async () => {
        if (this.crashArmed) await this.heartbeat();
        if (this.needsJoin) throw protocolError('REBALANCE_IN_PROGRESS');
        if (this.sched.now - this.lastHeartbeat < this.options.heartbeatIntervalMs) return;
        await this.heartbeat();
      },
      resolveOffset: (offset) => {
        // kafkajs resolves into the current generation's offset manager, whatever the batch's
        // generation, unconditionally (kafkajs throws a TypeError when the topic is not in the
        // current assignment at all; here it is ignored).
        if (!mine() || !(topic in this.assignment)) return;
        this.positions.set(key, Number(offset) + 1);
      },
      // payload.pause: the batch's own consumer group (a restarted consumer has a new one).
      pause: () => {
        if (mine()) this.paused.add(key);
        return () => {
          if (!mine()) return;
          this.paused.delete(key);
          this.wakeLoop?.();
        };
      },
      seek: (offset) => {
        this.seek(topic, partition, Number(offset));
      },
    };
  }
}
