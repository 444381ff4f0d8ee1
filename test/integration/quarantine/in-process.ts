import { vi } from 'vitest';
import { reportError } from '../../../src/cli/errors.js';
import { program } from '../../../src/cli/program.js';
import type { CliResult } from '../../support/cli.js';

/**
 * Runs `membrane …` in this process, as src/cli/main.ts does: the command line parsed by the
 * same program, a thrown error reported by the same `reportError` and its exit code, stdout
 * and stderr captured. Configuration comes from `process.env`, so the caller sets it first.
 * No new Node process and no TypeScript compile per command: a test can run many commands
 * within its time budget. One at a time: stdout is captured process-wide.
 */
/** What a command set as the exit code (replay sets 2 when it left records), 0 when none. */
function exitCodeSet(): number {
  const set: unknown = process.exitCode;
  return set === undefined ? 0 : Number(set);
}

export async function runInProcess(args: readonly string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    stdout += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString();
    return true;
  });
  const errors = {
    write: (text: string): boolean => {
      stderr += text;
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  const before = process.exitCode;
  process.exitCode = undefined;
  let code: number;
  try {
    await program().parseAsync(['node', 'membrane', ...args]);
    code = exitCodeSet();
  } catch (error) {
    code = reportError(error, errors);
  } finally {
    write.mockRestore();
    process.exitCode = before;
  }
  return { code, stdout, stderr };
}
