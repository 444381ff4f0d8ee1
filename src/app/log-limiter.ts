/**
 * At most `perSecond` log lines of one kind a second; the rest counted by code and reported
 * in one summary line when the second is over (on the next admitted line, or by a timer when
 * the flood stopped) and on {@link LogLimiter.flush} before exit: a sample, never silence.
 * The metrics count every record; the log shows what it is about.
 *
 * On the hot path, a suppressed line costs two comparisons and two increments (a Map update
 * when the code changes; codes are a closed list, so no allocation once each code was seen),
 * and one clock read in {@link CLOCK_EVERY}: no object, no timer per line. At most one timer is pending, for the window that has suppressed lines. The codes are
 * a closed list (src/core/issues.ts): the count per code stays small.
 */

/** What was not logged in one window. */
export interface Suppressed {
  readonly suppressed: number;
  readonly byCode: Readonly<Record<string, number>>;
}

/** Time and timers, injectable for deterministic tests. */
export interface LimiterClock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` in `ms`; returns what cancels it. Must not keep the process alive. */
  schedule(fn: () => void, ms: number): () => void;
}

export const systemClock: LimiterClock = {
  now: () => performance.now(),
  schedule: (fn, ms) => {
    const timer = setTimeout(fn, Math.max(1, Math.ceil(ms)));
    timer.unref();
    return () => {
      clearTimeout(timer);
    };
  },
};

export const WINDOW_MS = 1000;
/**
 * While a window's lines are used up, the clock is read once every this many suppressed
 * lines: a flood in a loop that never yields to the timer still sees the next second come
 * (within this many lines), and the rest cost no clock read.
 */
export const CLOCK_EVERY = 64;

export class LogLimiter {
  private windowEnd = Number.NEGATIVE_INFINITY;
  private left = 0;
  private suppressed = 0;
  private readonly byCode = new Map<string, number>();
  private lastCode = '';
  private lastCount = 0;
  private cancel: (() => void) | undefined;
  /** Suppressed lines since the clock was last read (at first: read it). */
  private unchecked = CLOCK_EVERY;
  private readonly onTimer = (): void => {
    this.cancel = undefined;
    this.flush();
    // The next line reads the clock, and opens the next window.
    this.unchecked = CLOCK_EVERY;
  };

  constructor(
    /** Lines a second; 0 logs none, only the summaries. */
    readonly perSecond: number,
    private readonly report: (summary: Suppressed) => void,
    private readonly clock: LimiterClock = systemClock,
  ) {
    if (!Number.isInteger(perSecond) || perSecond < 0)
      throw new RangeError(`perSecond must be a whole number ≥ 0, not ${perSecond}`);
  }

  /** Whether this line may be logged; counts it under `code` when not. */
  admit(code: string): boolean {
    if (this.left === 0 && this.unchecked < CLOCK_EVERY) {
      // The window's lines are used up: no clock read, only a count.
      this.unchecked += 1;
      this.count(code);
      return false;
    }
    this.unchecked = 0;
    const now = this.clock.now();
    if (now >= this.windowEnd) {
      // A new second: what the last one suppressed is reported before its first line.
      if (this.suppressed > 0) this.flush();
      this.windowEnd = now + WINDOW_MS;
      this.left = this.perSecond;
    }
    if (this.left > 0) {
      this.left -= 1;
      // The first line suppressed after this one reads the clock (and sets the timer).
      this.unchecked = CLOCK_EVERY;
      return true;
    }
    this.count(code);
    this.cancel ??= this.clock.schedule(this.onTimer, this.windowEnd - now);
    return false;
  }

  private count(code: string): void {
    this.suppressed += 1;
    // A flood is mostly one code: counted in a field, into the Map when the code changes.
    if (code === this.lastCode) {
      this.lastCount += 1;
      return;
    }
    this.spill();
    this.lastCode = code;
    this.lastCount = 1;
  }

  private spill(): void {
    if (this.lastCount === 0) return;
    this.byCode.set(this.lastCode, (this.byCode.get(this.lastCode) ?? 0) + this.lastCount);
    this.lastCount = 0;
  }

  /** Reports what was suppressed and not yet reported, if anything (before exit). */
  flush(): void {
    if (this.cancel !== undefined) {
      this.cancel();
      this.cancel = undefined;
    }
    if (this.suppressed === 0) return;
    this.spill();
    const byCode: Record<string, number> = {};
    for (const [code, n] of this.byCode) {
      if (n === 0) continue;
      byCode[code] = n;
      // Kept at 0, not deleted: the next window counts without growing the Map again.
      this.byCode.set(code, 0);
    }
    const summary: Suppressed = { suppressed: this.suppressed, byCode };
    this.suppressed = 0;
    this.report(summary);
  }
}
