/**
 * Errors for broken infrastructure, misconfiguration and bugs. Bad *data* is never an
 * exception in membrane: stages return verdicts. Everything that is thrown carries a
 * stable `code`, whether retrying can help (`retriable`), and the underlying `cause`.
 */
export interface MembraneErrorOptions {
  readonly retriable?: boolean;
  readonly cause?: unknown;
  /** One sentence telling the user what to do about it. */
  readonly hint?: string;
}

export class MembraneError extends Error {
  override readonly name: string = 'MembraneError';
  readonly code: string;
  readonly retriable: boolean;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: MembraneErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
  }
}

export function isMembraneError(error: unknown): error is MembraneError {
  return error instanceof MembraneError;
}

/** The message of any thrown value, for logs and user-facing sentences. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
