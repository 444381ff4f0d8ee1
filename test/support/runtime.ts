import type { Admin } from 'kafkajs';
import { loadRunConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/app/logger.js';
import { Runtime } from '../../src/app/runtime/bootstrap.js';
import { waitFor } from '../../src/infra/wait.js';
import { expect } from 'vitest';
import type { Received } from './kafka.js';

/** A header's value as text; when a name carries several values, membrane's is the last. */
export function header(r: Received, name: string): string | undefined {
  const value = r.message.headers?.[name];
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  return last?.toString();
}

/** The sum of a group's committed offsets on a topic (-1 counts as 0). */
export async function committedTotal(admin: Admin, group: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

/** No upstream record is accounted for twice across outputs and quarantine records. */
export function expectEachSourceOnce(records: readonly Received[]): string[] {
  const sources = records.map(
    (r) => `${header(r, 'membrane.source.partition')}/${header(r, 'membrane.source.offset')}`,
  );
  expect(new Set(sources).size).toBe(sources.length);
  return sources;
}

/** Each aggregate's clock counts 1, 2, 3… in upstream order (one source system). */
export function expectClocksCountUp(outputs: readonly Received[], system: string): void {
  const byAggregate = new Map<string, [number, number][]>();
  for (const r of outputs) {
    const clock = JSON.parse(header(r, 'membrane.vclock') ?? '{}') as Record<string, number>;
    const key = header(r, 'membrane.aggregate') ?? '';
    byAggregate.set(key, [
      ...(byAggregate.get(key) ?? []),
      [Number(header(r, 'membrane.source.offset')), clock[system] ?? 0],
    ]);
  }
  for (const list of byAggregate.values()) {
    const clocks = list.sort(([a], [b]) => a - b).map(([, clock]) => clock);
    expect(clocks).toEqual(clocks.map((_, i) => i + 1));
  }
}

/**
 * Runs an in-process `membrane run` with `env` until its group has committed `count` records
 * of `topic`, then stops it; fails the test if that does not happen within a minute.
 */
export async function runUntilCommitted(
  env: NodeJS.ProcessEnv,
  admin: Admin,
  group: string,
  topic: string,
  count: number,
): Promise<void> {
  const runtime = new Runtime({ config: loadRunConfig(env), logger: createLogger('silent'), env });
  await runtime.start();
  const done = await waitFor(
    async () => {
      if ((await committedTotal(admin, group, topic)) < count) throw new Error('not yet');
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
  await runtime.stop();
  expect(done.ok, `${count} records of ${topic} committed`).toBe(true);
}
