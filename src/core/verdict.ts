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

/**
 * Why a record was dropped on purpose: one closed list, the `kind` label of
 * `membrane_records_dropped_total` (the free-text reason is never a label).
 * - `duplicate`: its ID was already emitted (an upstream redelivery);
 * - `route`: the route it matched says `drop: <reason>`;
 * - `otherwise`: no route matched and the mapping says `otherwise: { drop: <reason> }`;
 * - `decode`, `upcast`, `map`, `validate`, `encode`: that stage returned a drop verdict.
 */
export const DROP_KINDS = [
  'duplicate',
  'route',
  'otherwise',
  'decode',
  'upcast',
  'map',
  'validate',
  'encode',
] as const;
export type DropKind = (typeof DROP_KINDS)[number];

/** A drop, as counted and logged: its kind, the route it happened on (if any) and why. */
export interface DropCause {
  readonly kind: DropKind;
  /** The route the record matched; undefined before routing (or when none matched). */
  readonly route: string | undefined;
  /** Free text from the mapping or the stage, for logs and replay outcomes only. */
  readonly reason: string;
}

/** The most issues one record keeps; the rest are counted in a last issue. */
export const MAX_ISSUES = 100;

/**
 * A quarantine with every issue found, up to MAX_ISSUES: a record whose 50,000 list elements
 * are all wrong must not make a quarantine record larger than its topic takes. The last
 * issue then says how many more there were (with the code of the first left out).
 */
export function quarantineAll(issues: readonly Issue[]): {
  readonly kind: 'quarantine';
  readonly issues: readonly Issue[];
} {
  if (issues.length <= MAX_ISSUES) return { kind: 'quarantine', issues };
  const kept = issues.slice(0, MAX_ISSUES - 1);
  const first = issues[MAX_ISSUES - 1] as Issue;
  const more = issues.length - kept.length;
  return {
    kind: 'quarantine',
    issues: [
      ...kept,
      {
        code: first.code,
        path: first.path,
        message: `…and ${more} more issues (${first.message})`,
      },
    ],
  };
}

export function quarantine(...issues: readonly Issue[]): {
  readonly kind: 'quarantine';
  readonly issues: readonly Issue[];
} {
  return { kind: 'quarantine', issues };
}
