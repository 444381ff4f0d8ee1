import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deterministicId, eventKeyFromId, mappingNamespace } from '../../../src/core/ids.js';
import { waitFor } from '../../../src/infra/wait.js';
import { runCli } from '../../support/cli.js';
import { readTopic } from '../../support/conservation.js';
import { spawnCli, type MembraneProcess } from '../../support/membrane-process.js';
import { orderKind, orderMessages, useOrderTopics } from '../../support/orders.js';
import { header, runUntilCommitted } from '../../support/runtime.js';

/** 600 upstream orders: 60 refused as map.unknown-code, which the fixed mapping then takes. */
const N = 600;
const fixable = Array.from({ length: N }, (_, i) => i).filter(
  (i) => orderKind(i) === 'unknown-status',
);
const ns = mappingNamespace('legacy-orders');
const expectedIds = fixable
  .map((i) => deterministicId(ns, eventKeyFromId('legacy-erp', `e-${i}`), 0))
  .sort();

const TAKEN_OVER =
  /^membrane: Another `membrane quarantine replay` of (\S+) took over, so this one stopped after (\d+) of the (\d+) records it selected; nothing was written twice, and running it again replays whatever is still unresolved\.\n$/;

const SUMMARY =
  /^(\d+) replayed, 0 dropped by the mapping, 0 still failing, 0 skipped(?:, (\d+) resolved meanwhile by another run)?$/m;

interface Finished {
  readonly code: number | null;
  readonly output: string;
}

async function finish(run: MembraneProcess): Promise<Finished> {
  return { code: await run.exited, output: run.output() };
}

/**
 * What a finished replay reports: how many records it replayed, and for the one taken over,
 * that it stopped with the one sentence (stderr only, nothing else) and exit code 1.
 */
function replayedBy(run: Finished, stderr: string, quarantine: string): number {
  expect(run.code, run.output).not.toBe(70);
  if (run.code === 1) {
    const match = TAKEN_OVER.exec(stderr);
    expect(match, run.output).not.toBeNull();
    expect(match?.[1]).toBe(quarantine);
    return Number(match?.[2]);
  }
  expect(run.code, run.output).toBe(0);
  const match = SUMMARY.exec(run.output);
  expect(match, run.output).not.toBeNull();
  return Number(match?.[1]);
}

/** The upstream orders through membrane (some quarantined), then the mapping fixed. */
function useQuarantinedOrders(): {
  readonly ctx: ReturnType<typeof useOrderTopics>;
  readonly env: () => NodeJS.ProcessEnv;
} {
  const ctx = useOrderTopics(2);
  let env: NodeJS.ProcessEnv | undefined;
  beforeAll(async () => {
    const admin = ctx.admin();
    const topics = ctx.topics();
    env = ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'silent' });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();
    await runUntilCommitted(env, admin, topics.group, topics.input, N);
    // Version 4 of the mapping knows status Q.
    const file = join(topics.mappings, 'legacy-orders.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8'))
        .replace('version: 3', 'version: 4')
        .replace('lookup: { N: NEW, P: PAID }', 'lookup: { N: NEW, P: PAID, Q: NEW }'),
    );
  });
  return {
    ctx,
    env: () => {
      if (!env) throw new Error('useQuarantinedOrders: used outside a test');
      return env;
    },
  };
}

/**
 * What read_committed readers see, read to the end offsets: each fixed record replayed
 * exactly once; and a further replay finds nothing left to do.
 */
async function expectEachReplayedOnce(
  ctx: ReturnType<typeof useOrderTopics>,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const topics = ctx.topics();
  const replayed = (await readTopic(ctx.kafka, topics.placed)).filter((m) =>
    header(m, 'membrane.replay.of'),
  );
  expect(replayed.map((m) => header(m, 'membrane.id')).sort()).toEqual(expectedIds);
  expect(new Set(replayed.map((m) => header(m, 'membrane.replay.of'))).size).toBe(fixable.length);

  const end = async (): Promise<string> =>
    JSON.stringify(await ctx.admin().fetchTopicOffsets(topics.placed));
  const before = await end();
  const again = await runCli(['quarantine', 'replay', '--code', 'map.*'], env);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toMatch(
    /^0 replayed, 0 dropped by the mapping, 0 still failing, 0 skipped$/m,
  );
  expect(await end()).toBe(before);
}

describe('two replays of the same records started together', () => {
  const { ctx, env } = useQuarantinedOrders();

  it('write each record once; the one taken over stops with one sentence and exit code 1', async () => {
    const args = ['quarantine', 'replay', '--code', 'map.*', '--chunk', '3', '--rate', '40'];
    const a = spawnCli(args, env());
    const b = spawnCli(args, env());
    const [ra, rb] = await Promise.all([finish(a), finish(b)]);
    const quarantine = ctx.topics().quarantine;
    // spawnCli mixes stdout and stderr; a taken-over replay writes nothing to stdout.
    const byA = replayedBy(ra, ra.output, quarantine);
    const byB = replayedBy(rb, rb.output, quarantine);
    expect([ra.code, rb.code]).toContain(0);
    // Between them they replayed every record, none twice.
    expect(byA + byB).toBe(fixable.length);
    await expectEachReplayedOnce(ctx, env());
  });
});

describe('a replay started while another is half-way', () => {
  const { ctx, env } = useQuarantinedOrders();

  it('takes over: the first stops after what it committed, the second replays the rest', async () => {
    // One record per transaction, three a second: the first is far from done when the
    // second starts. --json prints a line per record once its transaction committed.
    const first = spawnCli(
      ['quarantine', 'replay', '--code', 'map.*', '--chunk', '1', '--rate', '3', '--json'],
      env(),
    );
    const started = await waitFor(
      () => {
        const lines = first
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{')).length;
        if (lines < 2) throw new Error(`${lines} replayed`);
        return Promise.resolve(lines);
      },
      {
        timeoutMs: 60_000,
        intervalMs: 50,
        giveUp: () =>
          first.child.exitCode === null ? undefined : `exited ${first.child.exitCode}`,
      },
    );
    expect(started.ok, first.output()).toBe(true);
    const second = spawnCli(['quarantine', 'replay', '--code', 'map.*', '--chunk', '5'], env());
    const [r1, r2] = await Promise.all([finish(first), finish(second)]);

    expect(r1.code, r1.output).toBe(1);
    const stderr = r1.output
      .split('\n')
      .filter((l) => !l.startsWith('{'))
      .join('\n');
    const replayedFirst = replayedBy(r1, stderr, ctx.topics().quarantine);
    expect(replayedFirst).toBeGreaterThanOrEqual(2);
    expect(replayedFirst).toBeLessThan(fixable.length);
    // What the first reported as committed is exactly what it printed, one line each.
    expect(r1.output.split('\n').filter((l) => l.startsWith('{'))).toHaveLength(replayedFirst);
    expect(TAKEN_OVER.exec(stderr)?.[3]).toBe(String(fixable.length));

    expect(r2.code, r2.output).toBe(0);
    expect(replayedBy(r2, r2.output, ctx.topics().quarantine)).toBe(fixable.length - replayedFirst);
    await expectEachReplayedOnce(ctx, env());
  });
});
