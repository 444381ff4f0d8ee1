import {
  compare,
  formatClock,
  increment,
  merge,
  parseClock,
  type VectorClock,
} from '../../core/vector-clock.js';
import { TransactionalDedup, type ClockAdvance, type ClockPort } from '../../pipeline/ports.js';
import type { OutRecord } from './ports.js';

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

/**
 * A task's state: vector clocks per aggregate, the window of emitted IDs, and how far each
 * input is committed. Changes since the last commit are pending: `commit` keeps them (after
 * the Kafka transaction that recorded them committed), `rollback` forgets them — every exit
 * from a chunk that did not commit rolls back, whatever was thrown.
 */
/**
 * Vector clocks with a transaction (a pending layer that `commit` keeps and `rollback`
 * forgets) and retention. Committed clocks live in time segments, as Kafka Streams' segmented
 * stores do: an aggregate sits in the segment of its last change (`floor(at / span)`, span =
 * a quarter of the retention), moving to the newest one when it changes again. A segment that
 * ended more than the retention ago holds only clocks unchanged for longer than that: they
 * expire, so a clock is forgotten between 1 and 1.25 retentions after its last change. This
 * costs nothing per aggregate (no second map of times), which keeps a million clocks within
 * the restore's memory goal.
 */
export class RetainedClocks implements ClockPort {
  private readonly pending = new Map<string, VectorClock>();
  /** Segment index → clocks last changed in it; ascending by index (oldest first). */
  private segments: [number, Map<string, VectorClock>][] = [];
  private readonly span: number;

  constructor(retentionMs = Infinity) {
    this.span = retentionMs === Infinity ? Infinity : Math.max(1, retentionMs / 4);
  }

  advance(aggregate: string, system: string, upstream: VectorClock | undefined): ClockAdvance {
    const current = this.current(aggregate) ?? {};
    const concurrent = upstream !== undefined && compare(upstream, current) === 'concurrent';
    const next = increment(upstream ? merge(current, upstream) : current, system);
    this.pending.set(aggregate, next);
    return { clock: next, concurrent };
  }

  current(aggregate: string): VectorClock | undefined {
    const pending = this.pending.get(aggregate);
    if (pending) return pending;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const clock = this.segments[i]?.[1].get(aggregate);
      if (clock) return clock;
    }
    return undefined;
  }

  /** The clocks changed since the last commit (what the changelog records). */
  changes(): ReadonlyMap<string, VectorClock> {
    return this.pending;
  }

  /** Keeps the pending clocks as changed at `at`. */
  commit(at: number): void {
    for (const [aggregate, clock] of this.pending) this.put(aggregate, clock, at);
    this.pending.clear();
  }

  rollback(): void {
    this.pending.clear();
  }

  /**
   * Restores a clock from a changelog record written at `at`, merged into what earlier records
   * of the aggregate restored (each entry's maximum), not replacing it. A clock only grows, so
   * for a changelog written by one owner at a time the merge is the last record. But at least
   * once, nothing fences a member that was dropped from the group and has not noticed yet:
   * its chunk in flight writes the clocks its state had, after the new owner wrote newer ones.
   * Replaced, the next restore would take the zombie's older clock, and records translated
   * once would get clocks the outputs already carry. A tombstone (retention) still removes.
   */
  restore(aggregate: string, clock: VectorClock, at: number): void {
    const earlier = this.current(aggregate);
    this.put(aggregate, earlier ? merge(earlier, clock) : clock, at);
  }

  remove(aggregate: string): void {
    for (const [, clocks] of this.segments) if (clocks.delete(aggregate)) break;
  }

  private put(aggregate: string, clock: VectorClock, at: number): void {
    const index = this.span === Infinity ? 0 : Math.floor(at / this.span);
    let target: Map<string, VectorClock> | undefined;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      const [segment, clocks] = this.segments[i] ?? [0, new Map()];
      if (segment === index) target = clocks;
      else if (clocks.delete(aggregate) && clocks.size === 0) this.segments.splice(i, 1);
    }
    if (!target) {
      target = new Map();
      this.segments.push([index, target]);
      this.segments.sort(([x], [y]) => x - y);
    }
    target.set(aggregate, clock);
  }

  /**
   * Up to `max` aggregates whose clocks are expired at `now` (unchanged for longer than
   * `retentionMs`, i.e. in a segment that ended before `now - retentionMs`), oldest first,
   * leaving out those in `except`.
   */
  expired(
    now: number,
    retentionMs: number,
    max: number,
    except: ReadonlyMap<string, unknown>,
  ): string[] {
    const out: string[] = [];
    if (this.span === Infinity) return out;
    for (const [segment, clocks] of this.segments) {
      if ((segment + 1) * this.span > now - retentionMs) break;
      for (const aggregate of clocks.keys()) {
        if (out.length >= max) return out;
        if (!except.has(aggregate)) out.push(aggregate);
      }
    }
    return out;
  }

  get size(): number {
    let size = 0;
    for (const [, clocks] of this.segments) size += clocks.size;
    return size;
  }
}

/**
 * A task's state: vector clocks per aggregate, the window of emitted IDs, and how far each
 * input is committed. Changes since the last commit are pending: `commit` keeps them (after
 * the Kafka transaction that recorded them committed), `rollback` forgets them — every exit
 * from a chunk that did not commit rolls back, whatever was thrown.
 */
export class TaskState {
  readonly clocks: RetainedClocks;
  readonly dedup: TransactionalDedup;
  /** Per input topic, the offset the task's partition is committed up to. */
  private readonly committedUpTo = new Map<string, bigint>();
  /** How long an aggregate's clock is kept after its last change. */
  private readonly retentionMs: number;
  /** Aggregates the pending chunk expires (tombstones in its changelog records). */
  private expiring: string[] = [];

  constructor(dedupWindow: number, retentionMs = Infinity) {
    this.dedup = new TransactionalDedup(dedupWindow);
    this.clocks = new RetainedClocks(retentionMs);
    this.retentionMs = retentionMs;
  }

  /** Applies one changelog record (on restore); `timestamp` is when it was written. */
  restoreRecord(key: string, value: string | null, timestamp = 0): void {
    if (key.startsWith(stateKey.CLOCK)) {
      const aggregate = key.slice(stateKey.CLOCK.length);
      const clock = value === null ? undefined : parseClock(value);
      if (clock) this.clocks.restore(aggregate, clock, timestamp);
      else this.clocks.remove(aggregate);
    } else if (key.startsWith(stateKey.ID)) {
      this.dedup.restore(key.slice(stateKey.ID.length), value !== null);
    }
  }

  /**
   * The changelog records for what changed since the last commit, and tombstones for the
   * clocks that expired (at most `maxExpiries` per chunk, so one chunk never carries a flood
   * of them).
   */
  changelogRecords(partition: number, now = 0, maxExpiries = 1000): OutRecord[] {
    const records: OutRecord[] = [];
    const changes = this.clocks.changes();
    for (const [aggregate, clock] of changes)
      records.push({ key: stateKey.clock(aggregate), value: formatClock(clock), partition });
    for (const id of this.dedup.added())
      records.push({ key: stateKey.id(id), value: '1', partition });
    for (const id of this.dedup.evictions())
      records.push({ key: stateKey.id(id), value: null, partition });
    this.expiring = this.clocks.expired(now, this.retentionMs, maxExpiries, changes);
    for (const aggregate of this.expiring)
      records.push({ key: stateKey.clock(aggregate), value: null, partition });
    return records;
  }

  /** The chunk committed at `now`: its changes are kept, its expiries happen. */
  commit(topic: string, nextOffset: bigint, now = 0): void {
    this.clocks.commit(now);
    this.dedup.commit();
    for (const aggregate of this.expiring) this.clocks.remove(aggregate);
    this.expiring = [];
    this.resumeFrom(topic, nextOffset);
  }

  rollback(): void {
    this.clocks.rollback();
    this.dedup.rollback();
    this.expiring = [];
  }

  /** Records that `topic` is committed up to `offset` (never moves back). */
  resumeFrom(topic: string, offset: bigint): void {
    if (offset > (this.committedUpTo.get(topic) ?? -1n)) this.committedUpTo.set(topic, offset);
  }

  committedOffset(topic: string): bigint | undefined {
    return this.committedUpTo.get(topic);
  }

  /**
   * How many leading records (by offset) are below what is committed. The consumer looks
   * positions up when partitions are assigned; a commit that landed after that (the previous
   * owner's last transaction, or this member's own chunk in flight during a rebalance) makes
   * it fetch records again that are already translated. They are skipped, not redone.
   */
  alreadyCommitted(topic: string, offsets: readonly string[]): number {
    const upTo = this.committedUpTo.get(topic);
    const first = offsets[0];
    if (upTo === undefined || first === undefined || BigInt(first) >= upTo) return 0;
    const at = offsets.findIndex((offset) => BigInt(offset) >= upTo);
    return at === -1 ? offsets.length : at;
  }
}
