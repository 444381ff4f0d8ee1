import { describe, expect, it } from 'vitest';
import { stateKey, TaskState } from '../../../src/app/runtime/state.js';

const offsets = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, i) => String(from + i));

describe('a task state', () => {
  it('skips the leading records already committed when the consumer fetched them again', () => {
    const state = new TaskState(10);
    expect(state.alreadyCommitted('in', offsets(3, 9))).toBe(0); // nothing known: keep all
    state.resumeFrom('in', 5n);
    expect(state.alreadyCommitted('in', offsets(0, 4))).toBe(4);
    expect(state.alreadyCommitted('in', offsets(3, 9))).toBe(2);
    expect(state.alreadyCommitted('in', offsets(5, 9))).toBe(0);
    expect(state.alreadyCommitted('other', offsets(3, 9))).toBe(0);
    // It only moves forward: an older committed offset (or none, -1) changes nothing.
    state.resumeFrom('in', 2n);
    state.resumeFrom('in', -1n);
    expect(state.alreadyCommitted('in', offsets(3, 9))).toBe(2);
  });

  it('records pending changes in the changelog and forgets them on rollback', () => {
    const state = new TaskState(2);
    state.clocks.advance('o-1', 'erp', undefined);
    state.dedup.remember('id-1');
    expect(state.changelogRecords(4)).toEqual([
      { key: stateKey.clock('o-1'), value: '{"erp":1}', partition: 4 },
      { key: stateKey.id('id-1'), value: '1', partition: 4 },
    ]);
    state.rollback();
    expect(state.changelogRecords(4)).toEqual([]);
    expect(state.clocks.current('o-1')).toBeUndefined();
    expect(state.dedup.seen('id-1')).toBe(false);
  });

  it('restores clocks and remembered IDs from changelog records, tombstones included', () => {
    const state = new TaskState(10);
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":3}');
    state.restoreRecord(stateKey.id('a'), '1');
    state.restoreRecord(stateKey.id('b'), '1');
    state.restoreRecord(stateKey.id('a'), null);
    expect(state.clocks.current('o-1')).toEqual({ erp: 3 });
    expect(state.dedup.seen('a')).toBe(false);
    expect(state.dedup.seen('b')).toBe(true);
  });

  it("merges a clock an unfenced zombie wrote after the new owner's newer one, never goes back", () => {
    const state = new TaskState(10);
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":2}');
    // The new owner's record, then the zombie's (at least once, a dropped member's chunk in
    // flight writes what its state had), then one a second upstream system advanced.
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":3}');
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":2}');
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":2,"crm":1}');
    expect(state.clocks.current('o-1')).toEqual({ erp: 3, crm: 1 });
    // A tombstone (retention) still forgets it: the aggregate starts over.
    state.restoreRecord(stateKey.clock('o-1'), null);
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":1}');
    expect(state.clocks.current('o-1')).toEqual({ erp: 1 });
  });
});

describe('clock retention', () => {
  const day = 24 * 3600 * 1000;

  it('expires clocks unchanged for longer than the retention with tombstones in the same commit', () => {
    const state = new TaskState(10, 7 * day);
    state.clocks.advance('old', 'erp', undefined);
    state.changelogRecords(0, 0);
    state.commit('in', 1n, 0);
    state.clocks.advance('young', 'erp', undefined);
    state.changelogRecords(0, 5 * day);
    state.commit('in', 2n, 5 * day);
    // Not yet after 7.5 days: a clock goes between 1 and 1.25 retentions after its change.
    state.clocks.advance('other', 'erp', undefined);
    expect(state.changelogRecords(0, 7.5 * day).filter((r) => r.value === null)).toEqual([]);
    // Nine days on, a chunk touching another aggregate carries the old one's tombstone.
    const records = state.changelogRecords(0, 9 * day);
    expect(records).toContainEqual({ key: stateKey.clock('old'), value: null, partition: 0 });
    expect(records.filter((r) => r.value === null)).toHaveLength(1);
    // Until the commit, the clock is still there (a rollback keeps it).
    expect(state.clocks.current('old')).toEqual({ erp: 1 });
    state.commit('in', 3n, 9 * day);
    expect(state.clocks.current('old')).toBeUndefined();
    expect(state.clocks.current('young')).toEqual({ erp: 1 });
  });

  it('keeps an expiring clock when its chunk rolls back, and never expires one the chunk changed', () => {
    const state = new TaskState(10, day);
    state.clocks.advance('a', 'erp', undefined);
    state.changelogRecords(0, 0);
    state.commit('in', 1n, 0);
    expect(state.changelogRecords(0, 2 * day)).toHaveLength(1);
    state.rollback();
    expect(state.clocks.current('a')).toEqual({ erp: 1 });
    // The chunk touches `a` again: it is renewed, not expired.
    state.clocks.advance('a', 'erp', undefined);
    expect(state.changelogRecords(0, 2 * day)).toEqual([
      { key: stateKey.clock('a'), value: '{"erp":2}', partition: 0 },
    ]);
    state.commit('in', 2n, 2 * day);
    expect(state.changelogRecords(0, 2.5 * day)).toEqual([]);
  });

  it('restores the time of each clock from its changelog record, so expiry survives a restart', () => {
    const state = new TaskState(10, day);
    state.restoreRecord(stateKey.clock('a'), '{"erp":1}', 0);
    state.restoreRecord(stateKey.clock('b'), '{"erp":1}', 3 * day);
    state.restoreRecord(stateKey.clock('c'), '{"erp":1}', 0);
    state.restoreRecord(stateKey.clock('c'), null, 1);
    expect(state.changelogRecords(0, 3.5 * day)).toEqual([
      { key: stateKey.clock('a'), value: null, partition: 0 },
    ]);
  });
});
