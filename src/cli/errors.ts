import { isMembraneError, type MembraneError } from '../core/errors.js';

/**
 * membrane's exit codes (sysexits.h where one fits). Documented in the README, "Exit codes".
 * - 0: done;
 * - 1: another operational error (a mapping file, a topic missing, a command refused);
 * - 2: `quarantine replay` left records in the quarantine (set by that command);
 * - 69 (EX_UNAVAILABLE): the brokers, the registry or the OAuth token endpoint did not answer
 *   within KAFKA_CONNECT_TIMEOUT_MS;
 * - 70 (EX_SOFTWARE): a bug of membrane's;
 * - 77 (EX_NOPERM): authentication or authorization refused;
 * - 78 (EX_CONFIG): configuration: a variable, a TLS file, an untrusted certificate, a SASL
 *   mechanism or TLS setting the listener does not speak, a taken MEMBRANE_HTTP_PORT.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  replayLeftRecords: 2,
  unavailable: 69,
  bug: 70,
  permission: 77,
  config: 78,
} as const;

const BY_CODE: Readonly<Record<string, number>> = {
  'kafka.unreachable': EXIT.unavailable,
  'kafka.oauth-unreachable': EXIT.unavailable,
  'registry.unreachable': EXIT.unavailable,
  'registry.unavailable': EXIT.unavailable,
  'kafka.authentication': EXIT.permission,
  'kafka.authorization': EXIT.permission,
  'kafka.oauth-refused': EXIT.permission,
  'registry.unauthorized': EXIT.permission,
  'kafka.oauth-invalid': EXIT.config,
  'kafka.tls-untrusted': EXIT.config,
  'kafka.tls-expired': EXIT.config,
  'kafka.tls-hostname': EXIT.config,
  'kafka.tls-mismatch': EXIT.config,
  'kafka.sasl-mechanism': EXIT.config,
  'registry.tls-untrusted': EXIT.config,
  'registry.not-an-api': EXIT.config,
  'registry.tls-mismatch': EXIT.config,
  'http.port-in-use': EXIT.config,
  'http.port-denied': EXIT.config,
  'config.invalid': EXIT.config,
  'runtime.bug': EXIT.bug,
  'kafka.bug': EXIT.bug,
};

/** The exit code for a known error (see {@link EXIT}); 1 for one not listed. */
export function exitCodeOf(error: MembraneError): number {
  return BY_CODE[error.code] ?? EXIT.failure;
}

/**
 * Turns a thrown value into what the user reads: one sentence and what to do for a known
 * error, the stack for a bug. Returns the exit code.
 */
export function reportError(error: unknown, stream: NodeJS.WriteStream = process.stderr): number {
  if (isMembraneError(error)) {
    stream.write(`membrane: ${error.message}\n`);
    if (error.hint) stream.write(`  What to do: ${error.hint}.\n`);
    return exitCodeOf(error);
  }
  stream.write(`membrane: unexpected error (a bug; please report it with this output):\n`);
  stream.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.bug;
}
