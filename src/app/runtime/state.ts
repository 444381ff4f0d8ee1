import { formatClock, parseClock } from '../../core/vector-clock.js';
import { TransactionalClocks, TransactionalDedup } from '../../pipeline/ports.js';
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
export class TaskState {
  readonly clocks = new TransactionalClocks();
  readonly dedup: TransactionalDedup;
  /** Per input topic, the offset the task's partition is committed up to. */
  private readonly committedUpTo = new Map<string, bigint>();
  /**
   * When each aggregate's clock last changed, least recent first (a Map keeps insertion
   * order; a touched aggregate moves to the end), so expiry looks only at the front.
   */
  private readonly touched = new Map<string, number>();
  /** How long an aggregate's clock is kept after its last change. */
  private readonly retentionMs: number;
  /** Aggregates the pending chunk expires (tombstones in its changelog records). */
  private expiring: string[] = [];

  constructor(dedupWindow: number, retentionMs = Infinity) {
    this.dedup = new TransactionalDedup(dedupWindow);
    this.retentionMs = retentionMs;
  }

  /** Applies one changelog record (on restore); `timestamp` is when it was written. */
  restoreRecord(key: string, value: string | null, timestamp = 0): void {
    if (key.startsWith(stateKey.CLOCK)) {
      const aggregate = key.slice(stateKey.CLOCK.length);
      const clock = value === null ? undefined : parseClock(value);
      if (clock) {
        this.clocks.restore(aggregate, clock);
        this.touch(aggregate, timestamp);
      } else {
        this.clocks.remove(aggregate);
        this.touched.delete(aggregate);
      }
    } else if (key.startsWith(stateKey.ID)) {
      this.dedup.restore(key.slice(stateKey.ID.length), value !== null);
    }
  }

  private touch(aggregate: string, at: number): void {
    if (this.retentionMs === Infinity) return;
    this.touched.delete(aggregate);
    this.touched.set(aggregate, at);
  }

  /**
   * The changelog records for what changed since the last commit, and tombstones for the
   * clocks of aggregates unchanged for longer than the retention (at most `maxExpiries` per
   * chunk, so one chunk never carries a flood of them).
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
    this.expiring = [];
    if (this.retentionMs !== Infinity) {
      const before = now - this.retentionMs;
      for (const [aggregate, at] of this.touched) {
        if (at >= before || this.expiring.length >= maxExpiries) break;
        if (changes.has(aggregate)) continue;
        this.expiring.push(aggregate);
        records.push({ key: stateKey.clock(aggregate), value: null, partition });
      }
    }
    return records;
  }

  /** The chunk committed at `now`: its changes are kept, its expiries happen. */
  commit(topic: string, nextOffset: bigint, now = 0): void {
    if (this.retentionMs !== Infinity)
      for (const aggregate of this.clocks.changes().keys()) this.touch(aggregate, now);
    this.clocks.commit();
    this.dedup.commit();
    for (const aggregate of this.expiring) {
      this.clocks.remove(aggregate);
      this.touched.delete(aggregate);
    }
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
