import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface DetachedOptions {
  readonly logFile: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts a long-running process in its own process group, output written to `logFile` (truncated first),
 * not tied to this process: `membrane infra up` returns while the broker keeps running.
 */
export async function startDetached(
  command: string,
  args: readonly string[],
  options: DetachedOptions,
): Promise<number> {
  await mkdir(dirname(options.logFile), { recursive: true });
  const fd = openSync(options.logFile, 'w');
  try {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    const pid = await new Promise<number>((resolvePromise, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        resolvePromise(child.pid ?? -1);
      });
    });
    child.unref();
    return pid;
  } finally {
    closeSync(fd);
  }
}

/** Whether a process with this PID exists and, on Linux, still runs `marker` in its command line. */
export function isAlive(pid: number, marker?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const procFile = `/proc/${pid}`;
  if (!existsSync(procFile)) return true;
  try {
    const status = readFileSync(`${procFile}/stat`, 'utf8');
    // Field 3 is the state; Z is a zombie that only waits to be reaped.
    if (/^\d+ \(.*\) Z/.test(status)) return false;
    if (marker === undefined) return true;
    return readFileSync(`${procFile}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(-pid, name); // the whole process group started by startDetached
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // already gone
    }
  }
}

/**
 * SIGTERM, then wait up to `graceMs` for the process to go, then SIGKILL.
 * Returns how it ended.
 */
export async function stopProcess(
  pid: number,
  marker: string,
  graceMs = 20_000,
): Promise<'not-running' | 'terminated' | 'killed'> {
  if (!isAlive(pid, marker)) return 'not-running';
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid, marker)) return 'terminated';
    await delay(100);
  }
  signal(pid, 'SIGKILL');
  while (isAlive(pid, marker)) await delay(50);
  return 'killed';
}

/** The last lines of a log file, to show why a process would not start. */
export async function tail(file: string, lines = 15): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}
