import { isMembraneError } from '../core/errors.js';

/**
 * Turns a thrown value into what the user reads: one sentence and what to do for a known
 * error, the stack for a bug. Returns the exit code.
 */
export function reportError(error: unknown, stream: NodeJS.WriteStream = process.stderr): number {
  if (isMembraneError(error)) {
    stream.write(`membrane: ${error.message}\n`);
    if (error.hint) stream.write(`  What to do: ${error.hint}.\n`);
    return 1;
  }
  stream.write(`membrane: unexpected error (a bug; please report it with this output):\n`);
  stream.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 70;
}
