import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { MembraneError } from '../core/errors.js';
import { LogLimiter, type LimiterClock } from './log-limiter.js';

export type { Logger };

/** 'record quarantined' lines a second by default; the rest are counted in a summary line. */
export const QUARANTINE_LOG_PER_SECOND = 10;
export const QUARANTINE_LOG_ENV = 'MEMBRANE_QUARANTINE_LOG_PER_SECOND';

/** Bytes buffered before a write; less than that goes out within FLUSH_INTERVAL_MS. */
const BUFFER_BYTES = 4096;
const FLUSH_INTERVAL_MS = 500;
/** Beyond this much unwritten (stderr not read), lines are dropped rather than memory grow. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;
/** How long a synchronous write-out (at exit, on a crash, on a second signal) waits for stderr. */
const SYNC_FLUSH_MS = 1000;

type SonicBoom = ReturnType<typeof pino.destination>;

export interface LoggerOptions {
  /** 'record quarantined' lines a second (default {@link QUARANTINE_LOG_PER_SECOND}). */
  readonly quarantinedPerSecond?: number;
  /** Where the JSON lines go; default stderr, written asynchronously. */
  readonly destination?: DestinationStream;
  /** For tests of the limiter through the logger. */
  readonly clock?: LimiterClock;
}

interface LoggerState {
  readonly limiter: LogLimiter;
  readonly destination: DestinationStream | undefined;
  /** Gives up on stderr: what is unwritten is dropped, what is logged from then on too. */
  readonly abandon: (() => void) | undefined;
}

const states = new WeakMap<object, LoggerState>();

function limiterFor(logger: Logger, perSecond: number, clock?: LimiterClock): LogLimiter {
  return new LogLimiter(
    perSecond,
    ({ suppressed, byCode }) => {
      logger.warn(
        { suppressed, byCode, perSecond },
        'record quarantined: lines suppressed (membrane_records_quarantined_total counts every record)',
      );
    },
    clock,
  );
}

/**
 * Makes stderr non-blocking when it is a pipe or a socket: what libuv does when it opens one for
 * `process.stderr`, but undone when a child process is spawned with stderr inherited, and not
 * done when `process.stderr` was opened before. A terminal (kept blocking by Node, so that
 * nothing is lost) and a file (never full) are left as they are.
 */
function nonBlockingStderr(): void {
  const stderr = process.stderr as unknown as {
    isTTY?: boolean;
    _handle?: { setBlocking?: (blocking: boolean) => number };
  };
  if (stderr.isTTY !== true) stderr._handle?.setBlocking?.(false);
}

/**
 * Asynchronous stderr: sonic-boom in 4 KB chunks, at most 16 MiB unwritten. Lines beyond that
 * are dropped, counted, and said in a warning once stderr takes lines again.
 *
 * Nothing waits on a stderr nobody reads for longer than it was given:
 * - stderr is made non-blocking ({@link nonBlockingStderr}), so a write to a full pipe fails
 *   with EAGAIN and is retried every 100 ms, instead of blocking a thread of libuv's pool for
 *   ever: Node joins that pool before it exits, and would never exit.
 * - a synchronous write-out (pino's own on `exit`, a crash, a second signal) retries EAGAIN for
 *   {@link SYNC_FLUSH_MS} at most, then gives up on stderr.
 * - once given up on ({@link LoggerState.abandon}), the stream writes nothing more: pino's exit
 *   hook finds nothing to do, and what was not written is dropped.
 */
function stderrDestination(logger: () => Logger): { stream: SonicBoom; abandon: () => void } {
  nonBlockingStderr();
  /** While writing out synchronously: when to give up. */
  let deadline: number | undefined;
  let abandoned = false;
  const stream = pino.destination({
    dest: 2,
    sync: false,
    minLength: BUFFER_BYTES,
    periodicFlush: FLUSH_INTERVAL_MS,
    maxLength: MAX_BUFFERED_BYTES,
    // Asynchronously, sonic-boom retries every 100 ms for as long as the process runs.
    retryEAGAIN: () => !abandoned && (deadline === undefined || Date.now() < deadline),
  });
  const abandon = (): void => {
    if (abandoned) return;
    abandoned = true;
    // As pino does with a stream that got EPIPE. Not destroy(): it empties the buffer but not
    // its byte count, and a write still in flight that succeeds would then loop on empty writes.
    stream.write = () => true;
    stream.flush = (cb?: (err?: Error) => unknown) => {
      cb?.();
    };
    stream.flushSync = () => undefined;
  };
  const flushSync = stream.flushSync.bind(stream);
  // pino's exit hook calls this one too.
  stream.flushSync = () => {
    // A child process spawned with stderr inherited makes it blocking again (libuv does).
    nonBlockingStderr();
    deadline = Date.now() + SYNC_FLUSH_MS;
    try {
      flushSync();
    } catch {
      // EAGAIN past the deadline (or stderr closed): nothing more can be written.
      abandon();
    } finally {
      deadline = undefined;
    }
  };
  // A write that failed (EAGAIN once given up, EPIPE, EBADF): no log any more, and no crash.
  stream.on('error', abandon);
  let dropped = 0;
  stream.on('drop', () => {
    dropped += 1;
  });
  stream.on('write', () => {
    if (dropped === 0) return;
    const n = dropped;
    dropped = 0;
    logger().warn(
      { dropped: n },
      'log lines dropped: stderr was not read as fast as membrane logged',
    );
  });
  return { stream, abandon };
}

/**
 * JSON logs to stderr (stdout stays free for command output), one object a line with the level
 * as a string (`"level":"warn"`), written asynchronously: a log
 * line is a string appended to a buffer, written by libuv's thread pool in chunks (sonic-boom
 * via `pino.destination({ sync: false })`), so a slow stderr reader never stalls the event
 * loop. Lines reach stderr within half a second; {@link flushLogger} or {@link exitAfterFlush}
 * write the rest before the process exits (pino also flushes synchronously on `exit`). A stderr
 * nobody reads never holds the exit: what it did not take in time is dropped.
 */
export function createLogger(level: LevelWithSilent = 'info', options: LoggerOptions = {}): Logger {
  const stderr =
    options.destination !== undefined || level === 'silent'
      ? undefined
      : stderrDestination(() => logger);
  const destination = options.destination ?? stderr?.stream;
  const logger: Logger = pino(
    {
      level,
      base: { service: 'membrane' },
      // "level":"warn", not "level":40: what log pipelines (Loki, Elasticsearch, jq) filter on.
      formatters: { level: (label) => ({ level: label }) },
    },
    // A silent logger writes nothing: no stream, no flush timer.
    destination ?? { write: () => undefined },
  );
  states.set(logger, {
    limiter: limiterFor(
      logger,
      options.quarantinedPerSecond ?? QUARANTINE_LOG_PER_SECOND,
      options.clock,
    ),
    destination,
    abandon: stderr?.abandon,
  });
  return logger;
}

/**
 * Whether the 'record quarantined' line for a record of this `code` is logged: at most the
 * logger's rate a second, the rest counted and summed up in one line a second. Check it before
 * building the line's fields, so a suppressed record costs no allocation.
 */
export function quarantineLineAllowed(logger: Logger, code: string): boolean {
  let state = states.get(logger);
  if (state === undefined) {
    // A logger not made by createLogger (a child, a test double): the default rate.
    state = {
      limiter: limiterFor(logger, QUARANTINE_LOG_PER_SECOND),
      destination: undefined,
      abandon: undefined,
    };
    states.set(logger, state);
  }
  return state.limiter.admit(code);
}

/** `MEMBRANE_QUARANTINE_LOG_PER_SECOND`: a whole number ≥ 0 (0: summaries only), default 10. */
export function quarantineLogRate(env: NodeJS.ProcessEnv = process.env): number {
  const text = env[QUARANTINE_LOG_ENV];
  if (text === undefined || text.trim() === '') return QUARANTINE_LOG_PER_SECOND;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new MembraneError(
      'config.invalid',
      `Invalid configuration: ${QUARANTINE_LOG_ENV}=${text} is not a whole number ≥ 0.`,
      { hint: `set ${QUARANTINE_LOG_ENV} to the 'record quarantined' lines a second, or unset it` },
    );
  }
  return value;
}

/**
 * Writes out everything logged so far: the pending suppression summary, then the buffer.
 * Resolves once written, or after `timeoutMs`: a stderr nobody reads must not hold the exit, so
 * then the logger gives up on stderr (the unwritten lines are dropped, later ones too) and
 * nothing, pino's exit hook included, waits on it any more.
 */
export async function flushLogger(logger: Logger, timeoutMs = 5000): Promise<void> {
  const state = states.get(logger);
  state?.limiter.flush();
  if (typeof logger.flush !== 'function') return;
  const flushed = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      resolve(false);
    }, timeoutMs);
    // The callback's error is fsync's on a pipe or a terminal (EINVAL): written all the same.
    logger.flush(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  // sonic-boom calls back with up to minLength bytes still buffered: those go now, before any
  // timer could start another write.
  if (flushed) flushDestination(state?.destination);
  else state?.abandon?.();
}

/** sonic-boom's flushSync, bounded for stderr (see stderrDestination). */
function flushDestination(destination: DestinationStream | undefined): void {
  try {
    (destination as { flushSync?: () => void } | undefined)?.flushSync?.();
  } catch {
    // Nothing more can be done for a log that cannot be written while the process ends.
  }
}

/**
 * Writes out everything logged so far, synchronously: when there is no event loop left. Waits
 * on a full stderr for a second at most, then drops what is left.
 */
export function flushLoggerSync(logger: Logger): void {
  const state = states.get(logger);
  state?.limiter.flush();
  flushDestination(state?.destination);
}

/** The one way `membrane run` exits: the log written out first, then `process.exit(code)`. */
export async function exitAfterFlush(logger: Logger, code: number): Promise<never> {
  await flushLogger(logger);
  process.exit(code);
}

/**
 * On the first of `signals`, ends the process as the signal's default would, with `message`
 * logged and the log written out first: synchronously, for a second at most when nobody reads
 * stderr.
 */
export function exitOnSignal(
  logger: Logger,
  signals: readonly NodeJS.Signals[],
  message: string,
): void {
  const force = (signal: NodeJS.Signals): void => {
    for (const s of signals) process.off(s, force);
    logger.warn({ signal }, message);
    flushLoggerSync(logger);
    process.kill(process.pid, signal);
  };
  for (const s of signals) process.once(s, force);
}

/**
 * Before Node prints an uncaught exception (or an unhandled rejection) and exits, writes out
 * what was logged before it and the pending summary of suppressed quarantine lines (pino's own
 * exit hook writes the buffer, not the summary). Returns what uninstalls it.
 */
export function flushOnCrash(logger: Logger): () => void {
  const listener = (): void => {
    flushLoggerSync(logger);
  };
  process.on('uncaughtExceptionMonitor', listener);
  return () => {
    process.off('uncaughtExceptionMonitor', listener);
  };
}
