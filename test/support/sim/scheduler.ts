import type { Clock } from '../../../src/app/runtime/ports.js';

/** A small seeded PRNG (mulberry32): the simulation's only source of randomness. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimEvent {
  at: number;
  seq: number;
  /** The simulated process the event belongs to (undefined: the broker, the test). */
  readonly node: string | undefined;
  readonly run: () => void;
  cancelled: boolean;
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A binary min-heap of events by (time, sequence). */
class EventQueue {
  private readonly heap: SimEvent[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as SimEvent;
      if (!before(event, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined || heap.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      const left = heap[l];
      const right = heap[r];
      if (left && before(left, best)) {
        m = l;
        best = left;
      }
      if (right && before(right, best)) m = r;
      if (m === i) break;
      heap[i] = heap[m] as SimEvent;
      i = m;
    }
    heap[i] = last;
    return top;
  }
}

/** Lets every microtask queued so far (and those they queue) run: one macrotask turn. */
const drain = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/**
 * Virtual time and the order of everything asynchronous. Every completion of a fake port and
 * every timer is an event at a virtual time; `step` runs the earliest one and then lets the
 * microtasks it caused run to quiescence before the next. Latencies come from the seeded
 * `random`, so a seed fixes the interleaving and replays it exactly.
 *
 * A frozen node's events are held until it thaws (a stopped process: nothing of it runs, its
 * requests in flight are answered only when it runs again); a killed node's events are dropped
 * (SIGKILL: its promises never settle).
 */
export class Scheduler {
  now = 0;
  steps = 0;
  readonly random: () => number;
  private readonly queue = new EventQueue();
  private seq = 0;
  private readonly frozen = new Map<string, number>();
  private readonly held = new Map<string, SimEvent[]>();
  private readonly dead = new Set<string>();

  constructor(seed: number) {
    this.random = seededRandom(seed);
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  /** A request's round trip: mostly short, sometimes long. */
  latency(): number {
    const r = this.random();
    return 1 + Math.floor(r * r * r * 60);
  }

  at(time: number, node: string | undefined, run: () => void): { cancel(): void } {
    const event: SimEvent = {
      at: Math.max(time, this.now),
      seq: this.seq++,
      node,
      run,
      cancelled: false,
    };
    this.queue.push(event);
    return {
      cancel: () => {
        event.cancelled = true;
      },
    };
  }

  after(ms: number, node: string | undefined, run: () => void): { cancel(): void } {
    return this.at(this.now + ms, node, run);
  }

  /**
   * An asynchronous operation of `node`: `action` runs (against the broker) `latency` ms of
   * virtual time from now, and the promise settles with its result. Aborting `signal` rejects
   * at once and the action never runs.
   */
  op<T>(node: string, action: () => T, latency = this.latency(), signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        handle.cancel();
        reject(signal?.reason as Error);
      };
      const handle = this.after(latency, node, () => {
        signal?.removeEventListener('abort', onAbort);
        try {
          resolve(action());
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The Clock port of `node`. */
  clock(node: string): Clock {
    return {
      now: () => this.now,
      sleep: (ms, signal) => this.op(node, () => undefined, Math.max(0, ms), signal),
    };
  }

  freeze(node: string, until: number): void {
    this.frozen.set(node, Math.max(until, this.frozen.get(node) ?? 0));
  }

  isFrozen(node: string): boolean {
    return this.frozen.has(node);
  }

  thaw(node: string): void {
    this.frozen.delete(node);
    const held = this.held.get(node) ?? [];
    this.held.delete(node);
    // What the node had pending runs once it runs again, in the order it was due.
    for (const event of held) {
      event.at = Math.max(event.at, this.now);
      event.seq = this.seq++;
      this.queue.push(event);
    }
  }

  thawAll(): void {
    for (const node of [...this.frozen.keys()]) this.thaw(node);
  }

  kill(node: string): void {
    this.dead.add(node);
    this.frozen.delete(node);
    this.held.delete(node);
  }

  isDead(node: string): boolean {
    return this.dead.has(node);
  }

  /** Runs the next event; false when none is left or the next is past `until`. */
  async step(until = Infinity): Promise<boolean> {
    for (;;) {
      const event = this.queue.pop();
      if (!event) return false;
      if (event.at > until) {
        this.queue.push(event);
        return false;
      }
      if (event.cancelled) continue;
      const node = event.node;
      if (node !== undefined) {
        if (this.dead.has(node)) continue;
        const thawAt = this.frozen.get(node);
        if (thawAt !== undefined) {
          let held = this.held.get(node);
          if (!held) this.held.set(node, (held = []));
          held.push(event);
          continue;
        }
      }
      this.now = Math.max(this.now, event.at);
      this.steps += 1;
      event.run();
      await drain();
      return true;
    }
  }

  /** Runs events until `done()` holds (true) or virtual time passes `until` (false). */
  async runUntil(done: () => boolean, until: number, maxSteps = 200_000): Promise<boolean> {
    // A livelock (events that keep scheduling events without virtual time passing) ends as a
    // liveness failure with its seed, not as a worker out of memory.
    for (let steps = 0; !done(); steps++) {
      if (steps >= maxSteps) return false;
      if (!(await this.step(until))) {
        if (done()) return true;
        return false;
      }
    }
    return true;
  }
}
