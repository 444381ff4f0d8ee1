import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localDown, localStatus } from '../../../src/infra/local.js';
import { projectRoot } from '../../../src/infra/paths.js';
import { waitFor } from '../../../src/infra/wait.js';

describe('membrane dev', () => {
  const env: NodeJS.ProcessEnv = { ...process.env, MEMBRANE_INFRA: 'local' };
  delete env['KAFKA_BROKERS'];
  delete env['SCHEMA_REGISTRY_URL'];

  beforeAll(async () => {
    env['MEMBRANE_INFRA_DIR'] = await mkdtemp(join(tmpdir(), 'membrane-dev-'));
  });

  // Whatever happens in the test, leave no broker or registry behind.
  afterAll(async () => {
    await localDown(env);
  });

  it('runs membrane on the example mappings with a feed until Ctrl-C, then stops what it started', async () => {
    const root = projectRoot();
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'dev'],
      {
        cwd: root,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));

    const ready = await waitFor(
      () =>
        stdout.includes('Press Ctrl-C') ? Promise.resolve() : Promise.reject(new Error(stdout)),
      { timeoutMs: 90_000 },
    );
    expect(ready.ok).toBe(true);
    const running = await localStatus(env);
    expect(running.healthy).toBe(true);
    expect(child.exitCode).toBeNull(); // still there, waiting for Ctrl-C

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/Stopping…\nin \d+ .*\nStopped\.\n$/);
    expect((await localStatus(env)).state).toBeUndefined();
  });
});
