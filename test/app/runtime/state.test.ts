import fc from 'fast-check';
import { describe, expect, it, test } from 'vitest';
import { RetainedClocks, stateKey, TaskState } from '../../../src/app/runtime/state.js';
import { formatClock } from '../../../src/core/vector-clock.js';

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

describe('merging clock records on restore (a review pinned it)', () => {
  const day = 24 * 3600 * 1000;
  const retentionMs = 7 * day;

  interface Entry {
    readonly aggregate: string;
    /** undefined: a tombstone. */
    readonly erp: number | undefined;
    readonly at: number;
  }

  /**
   * Changelogs as one owner at a time writes them (exactly once, or at least once with no
   * zombie): per aggregate the clocks only grow, a tombstone forgets, and a clock after it
   * starts over; timestamps in log order.
   */
  const changelogs = fc
    .array(
      fc.record({
        aggregate: fc.constantFrom('o-1', 'o-2', 'o-3'),
        step: fc.integer({ min: 0, max: 3 }),
        tombstone: fc.boolean(),
        gap: fc.integer({ min: 0, max: 3 * day }),
      }),
      { maxLength: 40 },
    )
    .map((raw) => {
      const last = new Map<string, number>();
      let at = 0;
      return raw.map(({ aggregate, step, tombstone, gap }): Entry => {
        at += gap;
        if (tombstone) {
          last.delete(aggregate);
          return { aggregate, erp: undefined, at };
        }
        const erp = (last.get(aggregate) ?? 0) + step + 1;
        last.set(aggregate, erp);
        return { aggregate, erp, at };
      });
    });

  function restored(entries: readonly Entry[], lastWins: boolean): TaskState {
    const state = new TaskState(10, retentionMs);
    if (lastWins) {
      // The restore before c157386: the last record of an aggregate replaces its clock.
      const clocks = state.clocks as unknown as {
        restore: RetainedClocks['restore'];
        put: RetainedClocks['restore'];
      };
      clocks.restore = (aggregate, clock, at) => {
        clocks.put(aggregate, clock, at);
      };
    }
    for (const e of entries)
      state.restoreRecord(
        stateKey.clock(e.aggregate),
        e.erp === undefined ? null : formatClock({ erp: e.erp }),
        e.at,
      );
    return state;
  }

  test('for a changelog written by one owner at a time, a restore is what the last record gave, expiries included', () => {
    fc.assert(
      fc.property(changelogs, fc.integer({ min: 0, max: 30 * day }), (entries, later) => {
        const merged = restored(entries, false);
        const last = restored(entries, true);
        for (const aggregate of ['o-1', 'o-2', 'o-3'])
          expect(merged.clocks.current(aggregate)).toEqual(last.clocks.current(aggregate));
        expect(merged.clocks.size).toBe(last.clocks.size);
        // Which clocks a chunk at some later time expires: the same.
        const now = (entries.at(-1)?.at ?? 0) + later;
        expect(merged.changelogRecords(0, now)).toEqual(last.changelogRecords(0, now));
      }),
      { numRuns: 300 },
    );
  });
});
