import { expect } from 'vitest';
import type { Admin } from 'kafkajs';
import { waitFor } from '../../src/infra/wait.js';
import type { MembraneProcess } from './membrane-process.js';
import { committedTotal } from './runtime.js';

/**
 * Waits (polling, never sleeping a fixed time) until `check` holds; fails with what each
 * membrane process printed when it does not within `timeoutMs`.
 */
export async function until(
  what: string,
  check: () => Promise<boolean>,
  processes: readonly MembraneProcess[] = [],
  timeoutMs = 120_000,
): Promise<void> {
  const result = await waitFor(
    async () => {
      if (!(await check())) throw new Error(what);
    },
    { timeoutMs, intervalMs: 100 },
  );
  if (!result.ok) {
    const outputs = processes.map((p, i) => `--- membrane ${i + 1}:\n${p.output().slice(-4000)}`);
    throw new Error(`timed out waiting for: ${what} (${result.reason})\n${outputs.join('\n')}`);
  }
}

/** The group's committed input offsets, summed; 0 while the broker cannot answer. */
export function committedOf(
  admin: () => Admin,
  group: string,
  topic: string,
): () => Promise<number> {
  return async () => committedTotal(admin(), group, topic).catch(() => 0);
}

/** Waits until the group commits past `before`; returns the seconds that took. */
export async function secondsUntilProgress(
  committed: () => Promise<number>,
  before: number,
  processes: readonly MembraneProcess[],
): Promise<number> {
  const started = Date.now();
  await until(`commits past ${before}`, async () => (await committed()) > before, processes);
  return (Date.now() - started) / 1000;
}

/**
 * After the load: waits until `member` has committed all `total` records, then stops it with
 * SIGTERM, as an operator would; it must leave cleanly (exit 0).
 */
export async function catchUpAndStop(
  member: MembraneProcess,
  committed: () => Promise<number>,
  total: number,
): Promise<void> {
  await until(`all ${total} committed`, async () => (await committed()) >= total, [member]);
  member.child.kill('SIGTERM');
  expect(await member.exited, member.output()).toBe(0);
}
