import { setOwn } from './objects.js';

/**
 * A vector clock: one counter per source system that has touched an aggregate. Pure values;
 * operations return new clocks and never mutate their arguments.
 */
export type VectorClock = Readonly<Record<string, number>>;

export type ClockOrder = 'before' | 'after' | 'equal' | 'concurrent';

export const EMPTY_CLOCK: VectorClock = Object.freeze({});

/** The longest node name a clock may carry (upstream clocks are upstream data). */
export const MAX_NODE_LENGTH = 256;

/** A component, own properties only: a node called `constructor` is a node like any other. */
function at(clock: VectorClock, node: string): number {
  return Object.hasOwn(clock, node) ? (clock[node] ?? 0) : 0;
}

export function increment(clock: VectorClock, node: string): VectorClock {
  const result: Record<string, number> = { ...clock };
  setOwn(result, node, at(clock, node) + 1);
  return result;
}

/** The least clock that is after-or-equal both: the component-wise maximum. */
export function merge(a: VectorClock, b: VectorClock): VectorClock {
  const result: Record<string, number> = { ...a };
  for (const [node, count] of Object.entries(b)) {
    if (count > at(result, node)) setOwn(result, node, count);
  }
  return result;
}

/** How `a` relates to `b` in the happened-before order. */
export function compare(a: VectorClock, b: VectorClock): ClockOrder {
  let aBigger = false;
  let bBigger = false;
  for (const node of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = at(a, node);
    const y = at(b, node);
    if (x > y) aBigger = true;
    else if (y > x) bBigger = true;
    if (aBigger && bBigger) return 'concurrent';
  }
  if (aBigger) return 'after';
  if (bBigger) return 'before';
  return 'equal';
}

/** Canonical text: nodes sorted, zero components left out — equal clocks, equal strings. */
export function formatClock(clock: VectorClock): string {
  const nodes = Object.keys(clock);
  if (nodes.length === 1) {
    // The common case: one source system has touched the aggregate.
    const [only = ''] = nodes;
    const count = at(clock, only);
    return count > 0 ? `{${JSON.stringify(only)}:${count}}` : '{}';
  }
  const entries = Object.entries(clock)
    .filter(([, count]) => count > 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify(Object.fromEntries(entries));
}

/** Reads a clock from its JSON text; undefined when it is not one. */
export function parseClock(text: string): VectorClock | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const clock: Record<string, number> = {};
  for (const [node, count] of Object.entries(value)) {
    if (!Number.isSafeInteger(count) || (count as number) < 0) return undefined;
    if (node.length > MAX_NODE_LENGTH) return undefined;
    setOwn(clock, node, count);
  }
  return clock;
}
