import { describe, expect, it } from 'vitest';
import {
  CLOCK_EVERY,
  LogLimiter,
  type LimiterClock,
  type Suppressed,
} from '../../src/app/log-limiter.js';

/** A clock the test moves, and timers that fire when the test says. */
function fakeClock(): LimiterClock & {
  at: number;
  reads: number;
  timers: { fn: () => void; due: number; cancelled: boolean }[];
  advance(ms: number): void;
} {
  const clock = {
    at: 0,
    reads: 0,
    timers: [] as { fn: () => void; due: number; cancelled: boolean }[],
    now: () => {
      clock.reads += 1;
      return clock.at;
    },
    schedule(fn: () => void, ms: number) {
      const timer = { fn, due: clock.at + ms, cancelled: false };
      clock.timers.push(timer);
      return () => {
        timer.cancelled = true;
      };
    },
    advance(ms: number) {
      clock.at += ms;
      for (const timer of clock.timers.splice(0)) {
        if (timer.cancelled) continue;
        if (timer.due <= clock.at) timer.fn();
        else clock.timers.push(timer);
      }
    },
  };
  return clock;
}

function limiter(perSecond: number) {
  const clock = fakeClock();
  const reports: Suppressed[] = [];
  const log = new LogLimiter(perSecond, (s) => reports.push(s), clock);
  const pending = (): number => clock.timers.filter((t) => !t.cancelled).length;
  return { clock, reports, log, pending };
}

describe('the log limiter', () => {
  it('admits `perSecond` lines a second and counts the rest by code', () => {
    const { log, reports, clock } = limiter(3);
    const admitted = Array.from({ length: 10 }, (_, i) =>
      log.admit(i % 2 === 0 ? 'decode.invalid-json' : 'map.missing-field'),
    );
    expect(admitted).toEqual([true, true, true, false, false, false, false, false, false, false]);
    expect(reports).toEqual([]);
    // The second is over: the summary comes, from the timer, once.
    clock.advance(1000);
    expect(reports).toEqual([
      { suppressed: 7, byCode: { 'map.missing-field': 4, 'decode.invalid-json': 3 } },
    ]);
    clock.advance(5000);
    expect(reports).toHaveLength(1);
  });

  it('reports the last second’s suppressed lines before the next second’s first line', () => {
    const { log, reports, clock } = limiter(1);
    expect(log.admit('a')).toBe(true);
    expect(log.admit('a')).toBe(false);
    expect(log.admit('b')).toBe(false);
    // The clock moves past the window but the timer has not run (a loop that never yields):
    // the limiter reads the clock again within CLOCK_EVERY suppressed lines.
    clock.at += 1000;
    let admitted = -1;
    let reportsBefore = -1;
    for (let i = 0; i <= CLOCK_EVERY && admitted < 0; i++) {
      const seen = reports.length;
      if (log.admit('c')) {
        admitted = i;
        reportsBefore = seen;
      }
    }
    expect(admitted).toBeGreaterThanOrEqual(0);
    // The summary was reported before admit() said yes: it precedes the admitted line.
    expect(reportsBefore).toBe(0);
    expect(reports).toEqual([{ suppressed: 2 + admitted, byCode: { a: 1, b: 1, c: admitted } }]);
    // Its timer was cancelled: no second report of the same lines.
    clock.advance(2000);
    expect(reports).toHaveLength(1);
  });

  it('reads the clock once in CLOCK_EVERY suppressed lines', () => {
    const { log, clock } = limiter(1);
    for (let i = 0; i < 1 + CLOCK_EVERY * 1000; i++) log.admit('a');
    // One for the admitted line, then one in every CLOCK_EVERY + 1 suppressed lines.
    expect(clock.reads).toBeLessThanOrEqual(1 + 1000);
    expect(clock.reads).toBeGreaterThan(900);
  });

  it('keeps at most one timer pending, and none when nothing is suppressed', () => {
    const { log, pending, clock } = limiter(2);
    log.admit('a');
    log.admit('a');
    expect(pending()).toBe(0);
    for (let i = 0; i < 100_000; i++) log.admit('a');
    expect(pending()).toBe(1);
    clock.advance(1000);
    expect(pending()).toBe(0);
  });

  it('reports codes that reappear in a later window and omits the ones that did not', () => {
    const { log, reports, clock } = limiter(0);
    log.admit('a');
    log.admit('b');
    clock.advance(1000);
    log.admit('b');
    clock.advance(1000);
    expect(reports).toEqual([
      { suppressed: 2, byCode: { a: 1, b: 1 } },
      { suppressed: 1, byCode: { b: 1 } },
    ]);
  });

  it('flush() reports what is pending at once (before exit), and nothing twice', () => {
    const { log, reports, pending, clock } = limiter(1);
    log.admit('a');
    log.admit('a');
    log.flush();
    expect(reports).toEqual([{ suppressed: 1, byCode: { a: 1 } }]);
    expect(pending()).toBe(0);
    log.flush();
    clock.advance(1000);
    expect(reports).toHaveLength(1);
  });

  it('with a rate of 0 logs no line, only summaries', () => {
    const { log, reports, clock } = limiter(0);
    expect(log.admit('a')).toBe(false);
    clock.advance(1000);
    expect(reports).toEqual([{ suppressed: 1, byCode: { a: 1 } }]);
  });

  it('refuses a rate that is not a whole number ≥ 0', () => {
    expect(() => new LogLimiter(-1, () => undefined)).toThrow(RangeError);
    expect(() => new LogLimiter(1.5, () => undefined)).toThrow(RangeError);
  });
});
