import { describe, expect, test } from 'vitest';
import { Broker } from '../../support/sim/broker.js';
import { isFencing, isRebalance, isUnknownMember } from '../../support/sim/errors.js';
import { Scheduler } from '../../support/sim/scheduler.js';

function broker(sched = new Scheduler(1)) {
  return new Broker(sched, {
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    transactionTimeoutMs: 60_000,
    inputTopics: ['in'],
    partitions: 2,
    assignor: 'round-robin',
  });
}

const values = (b: Broker, topic: string): string[] =>
  b.readAll(topic).map(({ entry }) => entry.value?.toString() ?? '');

describe('the simulated broker (the model the runtime simulation trusts)', () => {
  test('read_committed: committed records only, nothing past an open transaction', () => {
    const b = broker();
    b.produce('out', [{ value: 'plain' }]);
    const e1 = b.initProducer('t1');
    b.produceTxn('t1', e1, 'out', [{ value: 'aborted' }]);
    b.endTxn('t1', e1, false);
    const e2 = b.initProducer('t2');
    b.produceTxn('t2', e2, 'out', [{ value: 'open' }]);
    b.produce('out', [{ value: 'after the open one' }]);
    expect(values(b, 'out')).toEqual(['plain']);
    expect(b.lastStable('out', 0)).toBe(3);
    b.endTxn('t2', e2, true);
    // Markers take offsets and are never seen.
    expect(values(b, 'out')).toEqual(['plain', 'open', 'after the open one']);
    expect(b.highWatermark('out', 0)).toBe(6);
  });

  test('init fences the older epoch and aborts what it left open; commit makes the offsets visible', () => {
    const b = broker();
    const old = b.initProducer('task');
    b.produceTxn('task', old, 'out', [{ value: 'zombie' }]);
    b.txnOffsets('task', old, 'g', 'in', 0, 5);
    const now = b.initProducer('task');
    expect(values(b, 'out')).toEqual([]);
    expect(b.committedFor('in', 0)).toBeUndefined();
    let fenced: unknown;
    try {
      b.endTxn('task', old, true);
    } catch (error) {
      fenced = error;
    }
    expect(isFencing(fenced)).toBe(true);
    b.produceTxn('task', now, 'out', [{ value: 'owner' }]);
    b.txnOffsets('task', now, 'g', 'in', 0, 7);
    b.endTxn('task', now, true);
    expect(values(b, 'out')).toEqual(['owner']);
    expect(b.committedFor('in', 0)).toBe(7);
  });

  test('a transaction left open times out in virtual time, bumping the epoch', async () => {
    const sched = new Scheduler(1);
    const b = broker(sched);
    const epoch = b.initProducer('task');
    b.produceTxn('task', epoch, 'out', [{ value: 'left open' }]);
    expect(b.lastStable('out', 0)).toBe(0);
    await sched.runUntil(() => b.stats.timedOut > 0, 120_000);
    expect(b.lastStable('out', 0)).toBe(b.highWatermark('out', 0));
    expect(b.epochOf('task')).toBe(epoch + 1);
  });

  test('the group: a silent member is removed after the session timeout; the rest rebalance', async () => {
    const sched = new Scheduler(1);
    const b = broker(sched);
    const answers: Record<string, Record<string, number[]>> = {};
    const a = b.join('a', undefined, (x) => (answers[x.memberId] = x.assignment));
    expect(answers[a]).toEqual({ in: [0, 1] });
    // A second member starts a rebalance that waits for the first to rejoin.
    const c = b.join('c', undefined, (x) => (answers[x.memberId] = x.assignment));
    expect(b.rebalancing).toBe(true);
    b.join('a', a, (x) => (answers[x.memberId] = x.assignment));
    expect(b.generation).toBe(2);
    expect(answers[a]).toEqual({ in: [0] });
    expect(answers[c]).toEqual({ in: [1] });
    // `c` heartbeats; `a` goes silent.
    const beat = (): void => {
      try {
        b.heartbeat(c, b.generation);
      } catch {
        b.join('c', c, (x) => (answers[x.memberId] = x.assignment));
      }
      sched.after(1_000, undefined, beat);
    };
    beat();
    await sched.runUntil(() => b.stats.expired > 0 && !b.rebalancing, 60_000);
    expect(b.memberIds).toEqual([c]);
    expect(answers[c]).toEqual({ in: [0, 1] });
    let error: unknown;
    try {
      b.heartbeat(a, 2);
    } catch (e) {
      error = e;
    }
    expect(isRebalance(error) && isUnknownMember(error)).toBe(true);
  });

  test('the scheduler holds a frozen node’s events until it thaws and drops a killed one’s', async () => {
    const sched = new Scheduler(1);
    const seen: string[] = [];
    sched.after(10, 'frozen', () => seen.push('frozen'));
    sched.after(20, 'other', () => seen.push('other'));
    sched.after(30, 'killed', () => seen.push('killed'));
    sched.freeze('frozen', 100);
    sched.kill('killed');
    sched.after(100, undefined, () => {
      sched.thaw('frozen');
    });
    while (await sched.step());
    expect(seen).toEqual(['other', 'frozen']);
    expect(sched.now).toBe(100);
  });
});
