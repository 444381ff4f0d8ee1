import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive, startDetached, stopProcess, tail } from '../../src/infra/processes.js';
import { waitFor } from '../../src/infra/wait.js';

describe('detached processes', () => {
  it('starts a process in its own group, logs to a file, and stops it with SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'membrane-proc-'));
    const logFile = join(dir, 'logs', 'child.log');
    const marker = 'membrane-test-child';
    const pid = await startDetached(
      process.execPath,
      ['-e', `console.log('hello from ${marker}'); setInterval(() => {}, 1000)`, marker],
      { logFile },
    );
    expect(isAlive(pid, marker)).toBe(true);
    expect(isAlive(pid, 'some-other-program')).toBe(false);
    const logged = await waitFor(
      async () => {
        const text = await readFile(logFile, 'utf8');
        if (!text.includes('hello')) throw new Error('not yet');
        return text;
      },
      { timeoutMs: 10_000 },
    );
    expect(logged.ok).toBe(true);
    expect(await tail(logFile)).toBe(`hello from ${marker}`);

    expect(await stopProcess(pid, marker)).toBe('terminated');
    expect(isAlive(pid, marker)).toBe(false);
    expect(await stopProcess(pid, marker)).toBe('not-running');
  });

  it('kills a process that ignores SIGTERM once the grace period is over', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'membrane-proc-'));
    const marker = 'membrane-test-stubborn';
    const pid = await startDetached(
      process.execPath,
      [
        '-e',
        `process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000)`,
        marker,
      ],
      { logFile: join(dir, 'stubborn.log') },
    );
    // Wait until its SIGTERM handler is installed (it prints once it is).
    await waitFor(
      async () => {
        if (!(await tail(join(dir, 'stubborn.log'))).includes('ready')) throw new Error('starting');
      },
      { timeoutMs: 10_000 },
    );
    expect(await stopProcess(pid, marker, 300)).toBe('killed');
    expect(isAlive(pid, marker)).toBe(false);
  });
});
