import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';

/** `membrane run` in a process of its own, as operators run it. */
export interface MembraneProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

export function startMembrane(env: NodeJS.ProcessEnv): MembraneProcess {
  return spawnCli(['run'], env);
}

/** Any `membrane` command in a process of its own, to kill or stop as a test needs. */
export function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv): MembraneProcess {
  const root = projectRoot();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/cli/main.ts'), ...args],
    {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // However the test ends, failed or timed out, the process does not outlive it.
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => {
    child.on('close', (code, signal) => {
      resolve(code ?? (signal ? -1 : null));
    });
  });
  return { child, exited, output: () => output };
}
