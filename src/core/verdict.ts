import type { Issue } from './issues.js';

/**
 * What a stage returns. Bad data is a value, never an exception: `quarantine` carries every
 * issue found, `drop` says why the record is deliberately not translated.
 */
export type Verdict<T> =
  | { readonly kind: 'pass'; readonly value: T }
  | { readonly kind: 'drop'; readonly reason: string }
  | { readonly kind: 'quarantine'; readonly issues: readonly Issue[] };

export function pass<T>(value: T): Verdict<T> {
  return { kind: 'pass', value };
}

export function drop(reason: string): { readonly kind: 'drop'; readonly reason: string } {
  return { kind: 'drop', reason };
}

export function quarantine(...issues: readonly Issue[]): {
  readonly kind: 'quarantine';
  readonly issues: readonly Issue[];
} {
  return { kind: 'quarantine', issues };
}
