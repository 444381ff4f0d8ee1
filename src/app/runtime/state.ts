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

  constructor(dedupWindow: number) {
    this.dedup = new TransactionalDedup(dedupWindow);
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

  /** The changelog records for what changed since the last commit. */
  changelogRecords(partition: number): OutRecord[] {
    const records: OutRecord[] = [];
    for (const [aggregate, clock] of this.clocks.changes())
      records.push({ key: stateKey.clock(aggregate), value: formatClock(clock), partition });
    for (const id of this.dedup.added())
      records.push({ key: stateKey.id(id), value: '1', partition });
    for (const id of this.dedup.evictions())
      records.push({ key: stateKey.id(id), value: null, partition });
    return records;
  }

  commit(topic: string, nextOffset: bigint): void {
    this.clocks.commit();
    this.dedup.commit();
    this.resumeFrom(topic, nextOffset);
  }

  rollback(): void {
    this.clocks.rollback();
    this.dedup.rollback();
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
