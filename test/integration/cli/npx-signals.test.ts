import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { projectRoot } from '../../../src/infra/paths.js';
import { waitFor } from '../../../src/infra/wait.js';
import { holdPort } from '../../support/net.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { committedTotal } from '../../support/runtime.js';
import { describe, expect, it, onTestFinished } from 'vitest';

const N = 20;
/** Bounds on how long each step may take before the test fails: timeouts, not claims. */
const START_MS = 60_000;
const STOP_MS = 45_000;

/** The processes below `pid` (Linux /proc), deepest last. */
function descendants(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `npx membrane run` as a container's command or a supervisor starts it: the PID launched is
 * npm's, and SIGTERM goes to that PID only (never to a process group), so it must reach
 * membrane, and the launched process must end with membrane's exit code once membrane stopped.
 */
describe.each([
  // The built CLI (package.json `bin`), through the npx cache's link to this checkout.
  { command: 'npx', args: ['membrane', 'run'] },
  // The sources through tsx, which runs them in a child process of its own.
  { command: 'npm', args: ['run', 'membrane', '--', 'run'] },
])('$command $args.0 … run', ({ command, args }) => {
  const ctx = useOrderTopics(1);

  it(
    'stops gracefully, leaving the group with its offsets committed, on SIGTERM to the launched PID',
    async () => {
      const { kafka } = ctx;
      const admin = ctx.admin();
      const topics = ctx.topics();
      const producer = kafka.producer({ idempotent: true });
      await producer.connect();
      await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
      await producer.disconnect();

      const free = await holdPort();
      await free.release();
      const child = spawn(command, args, {
        cwd: projectRoot(),
        env: {
          ...process.env,
          ...ctx.env({ MEMBRANE_HTTP_PORT: String(free.port), LOG_LEVEL: 'info' }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      // 'exit', not 'close': a membrane orphaned by npm would hold the pipes open for ever.
      const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
      // Whatever npm started below it: however the test ends, none of it outlives the test.
      let below: number[] = [];
      onTestFinished(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        for (const pid of below.filter(alive)) process.kill(pid, 'SIGKILL');
      });
      const giveUp = (): string | undefined =>
        child.exitCode !== null || child.signalCode !== null
          ? `${command} exited (${child.exitCode ?? child.signalCode}) before the test stopped it`
          : undefined;

      const healthy = await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${free.port}/healthz`);
          if (response.status !== 200) throw new Error(`/healthz answered ${response.status}`);
        },
        { timeoutMs: START_MS, giveUp },
      );
      expect(healthy, output).toEqual({ ok: true, value: undefined });
      const consumed = await waitFor(
        async () => {
          const committed = await committedTotal(admin, topics.group, topics.input);
          if (committed < N) throw new Error(`${committed} of ${N} offsets committed`);
        },
        { timeoutMs: START_MS, giveUp },
      );
      expect(consumed, output).toEqual({ ok: true, value: undefined });

      below = descendants(child.pid ?? 0);
      expect(below, 'npm runs membrane in a process below it').not.toEqual([]);
      expect(child.kill('SIGTERM')).toBe(true);
      let timer: NodeJS.Timeout | undefined;
      const end = await Promise.race([
        exited,
        new Promise<'timed out'>((resolve) => {
          timer = setTimeout(() => {
            resolve('timed out');
          }, STOP_MS);
        }),
      ]);
      clearTimeout(timer);
      // Membrane's own exit code, passed on by npm: 0 after a clean shutdown.
      expect(end, output).toEqual([0, null]);
      expect(output).toMatch(/"signal":\[?"SIGTERM"[^\n]*"msg":"stopping"/);
      expect(output).toContain('"msg":"membrane stopped"');
      expect(below.filter(alive), `processes left running after ${command} exited`).toEqual([]);
      // Membrane left the group rather than being orphaned with it: no member is left.
      const { groups } = await admin.describeGroups([topics.group]);
      expect(groups[0]?.members ?? [], output).toEqual([]);
      expect(await committedTotal(admin, topics.group, topics.input)).toBe(N);
    },
    2 * START_MS + STOP_MS + 30_000,
  );
});
