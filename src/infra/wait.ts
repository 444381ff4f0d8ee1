import { setTimeout as delay } from 'node:timers/promises';
import { messageOf } from '../core/errors.js';

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Pause between two checks that failed. */
  readonly intervalMs?: number;
  /** Checked before each attempt: a reason to give up now (the process died), or undefined. */
  readonly giveUp?: () => string | undefined;
}

export type WaitResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/** Retries `check` until it resolves, the deadline passes, or `giveUp` says so. */
export async function waitFor<T>(
  check: () => Promise<T>,
  options: WaitOptions,
): Promise<WaitResult<T>> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no attempt was made';
  while (Date.now() < deadline) {
    const reason = options.giveUp?.();
    if (reason !== undefined) return { ok: false, reason };
    try {
      return { ok: true, value: await check() };
    } catch (error) {
      last = messageOf(error);
    }
    await delay(options.intervalMs ?? 250);
  }
  return {
    ok: false,
    reason: `not ready after ${options.timeoutMs / 1000} s (last error: ${last})`,
  };
}
