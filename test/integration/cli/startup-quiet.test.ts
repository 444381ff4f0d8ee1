import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { projectRoot } from '../../../src/infra/paths.js';
import { waitFor } from '../../../src/infra/wait.js';
import { holdPort } from '../../support/net.js';
import { useOrderTopics } from '../../support/orders.js';

/**
 * kafkajs has nothing to warn about when membrane starts: the producers choose their
 * partitioner (no "switched default partitioner" notice) and the transactional producer's
 * bounded retries (see IGNORED_KAFKAJS_WARNING in src/adapters/kafka/client.ts) do not log
 * "Limiting retries for the idempotent producer may invalidate EoS guarantees".
 */
describe('membrane run, started', () => {
  const ctx = useOrderTopics(2);

  it('logs no kafkajs warning up to ready, with its task producers made', async () => {
    const free = await holdPort();
    await free.release();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot(), 'src/cli/main.ts'), 'run'],
      {
        cwd: projectRoot(),
        env: {
          PATH: process.env['PATH'],
          ...ctx.env({ MEMBRANE_HTTP_PORT: String(free.port), LOG_LEVEL: 'info' }),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    onTestFinished(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const ready = await waitFor(
      async () => {
        const response = await fetch(`http://127.0.0.1:${free.port}/readyz`);
        if (response.status !== 200) throw new Error(`readyz ${response.status}`);
      },
      {
        timeoutMs: 90_000,
        intervalMs: 250,
        giveUp: () => (child.exitCode === null ? undefined : `membrane exited: ${stderr}`),
      },
    );
    expect(ready.ok, stderr).toBe(true);
    child.kill('SIGTERM');
    await exited;
    expect(child.exitCode, stderr).toBe(0);
    const lines = stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; component?: string });
    expect(lines.some((l) => l.msg === 'membrane is running')).toBe(true);
    expect(lines.filter((l) => l.component === 'kafkajs' || l.level >= 40)).toEqual([]);
    expect(stderr).not.toMatch(/Limiting retries|partitioner/);
  });
});
