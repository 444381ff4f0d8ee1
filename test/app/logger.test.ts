import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { LimiterClock } from '../../src/app/log-limiter.js';
import {
  createLogger,
  flushLogger,
  quarantineLineAllowed,
  quarantineLogRate,
  type Logger,
} from '../../src/app/logger.js';
import { projectRoot } from '../../src/infra/paths.js';

/** The lines a logger wrote, parsed. */
function captured(): {
  destination: { write(line: string): void };
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  return {
    destination: {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    },
    lines,
  };
}

function manualClock(): LimiterClock & { at: number; fire(): void } {
  const timers: (() => void)[] = [];
  const clock = {
    at: 0,
    now: () => clock.at,
    schedule(fn: () => void) {
      timers.push(fn);
      return () => {
        timers.splice(timers.indexOf(fn), 1);
      };
    },
    fire() {
      for (const fn of timers.splice(0)) fn();
    },
  };
  return clock;
}

/** What the task does for each quarantined record. */
function quarantined(logger: Logger, code: string, offset: number): void {
  if (quarantineLineAllowed(logger, code)) logger.warn({ offset, code }, 'record quarantined');
}

describe('the log line format', () => {
  it('names the level as a string, for the logger and its children', () => {
    const { destination, lines } = captured();
    const logger = createLogger('debug', { destination });
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    logger.child({ component: 'kafkajs' }).fatal('f');
    expect(lines.map((l) => [l['level'], l['msg']])).toEqual([
      ['debug', 'd'],
      ['info', 'i'],
      ['warn', 'w'],
      ['error', 'e'],
      ['fatal', 'f'],
    ]);
    expect(lines[4]).toMatchObject({ service: 'membrane', component: 'kafkajs' });
  });
});

describe('quarantine lines through the logger', () => {
  it('logs at most the configured lines a second, then one summary line with counts by code', () => {
    const { destination, lines } = captured();
    const clock = manualClock();
    const logger = createLogger('info', { destination, quarantinedPerSecond: 10, clock });
    for (let i = 0; i < 100_000; i++)
      quarantined(logger, i % 4 === 0 ? 'decode.invalid-json' : 'map.missing-field', i);
    expect(lines).toHaveLength(10);
    expect(lines.map((l) => l['offset'])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    clock.at += 1000;
    clock.fire();
    expect(lines).toHaveLength(11);
    expect(lines[10]).toMatchObject({
      level: 'warn',
      service: 'membrane',
      suppressed: 99_990,
      byCode: { 'decode.invalid-json': 24_997, 'map.missing-field': 74_993 },
      perSecond: 10,
      msg: expect.stringMatching(/^record quarantined: lines suppressed/) as unknown,
    });
    // A new second: lines again.
    quarantined(logger, 'decode.invalid-json', 100_000);
    expect(lines[11]).toMatchObject({ offset: 100_000, msg: 'record quarantined' });
  });

  it('writes the pending summary when flushed (before exit)', async () => {
    const { destination, lines } = captured();
    const logger = createLogger('info', {
      destination,
      quarantinedPerSecond: 1,
      clock: manualClock(),
    });
    quarantined(logger, 'a', 1);
    quarantined(logger, 'a', 2);
    await flushLogger(logger);
    expect(lines.map((l) => l['suppressed'] ?? l['offset'])).toEqual([1, 1]);
  });

  it('limits a logger it did not create (a test double) at the default rate', () => {
    const warned: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => warned.push(args) } as unknown as Logger;
    for (let i = 0; i < 50; i++) quarantined(logger, 'a', i);
    expect(warned).toHaveLength(10);
  });
});

describe('MEMBRANE_QUARANTINE_LOG_PER_SECOND', () => {
  it('is 10 by default and any whole number ≥ 0', () => {
    expect(quarantineLogRate({})).toBe(10);
    expect(quarantineLogRate({ MEMBRANE_QUARANTINE_LOG_PER_SECOND: '' })).toBe(10);
    expect(quarantineLogRate({ MEMBRANE_QUARANTINE_LOG_PER_SECOND: '0' })).toBe(0);
    expect(quarantineLogRate({ MEMBRANE_QUARANTINE_LOG_PER_SECOND: '250' })).toBe(250);
  });

  it.each(['-1', '1.5', 'ten'])('refuses %s as config.invalid', (value) => {
    expect(() => quarantineLogRate({ MEMBRANE_QUARANTINE_LOG_PER_SECOND: value })).toThrow(
      expect.objectContaining({ code: 'config.invalid' }) as Error,
    );
  });
});

describe('the asynchronous stderr logger in a process of its own', () => {
  const root = projectRoot();
  const src = (path: string): string => pathToFileURL(join(root, 'src', path)).href;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'membrane-logger-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs a script with tsx; `readStderr` false leaves its stderr unread until stdout ends. */
  async function run(
    name: string,
    script: string,
    readStderr = true,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const file = join(dir, `${name}.mts`);
    await writeFile(file, script);
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // A child that hangs (a logger that blocks) does not outlive its test.
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    if (!readStderr) child.stderr.pause();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // The child said its event loop went on: now the test reads what it logged.
      if (stdout.includes('event loop free')) child.stderr.resume();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { code, stdout, stderr };
  }

  /**
   * Runs a script with tsx whose stderr is a pipe nobody reads, ever: resolves with how the
   * child ended (its exit event; the pipe is never drained). `onReady` runs once the child
   * writes `ready` on stdout.
   */
  async function runUnread(
    name: string,
    script: string,
    onReady?: (child: ReturnType<typeof spawn>) => void,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
    const file = join(dir, `${name}.mts`);
    await writeFile(file, script);
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      child.stderr.destroy();
    });
    child.stderr.pause();
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout === 'ready\n') onReady?.(child);
    });
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout };
  }

  /** 4 MB of log lines: far more than a pipe holds (64 KB to a few hundred KB). */
  const fill = `
const pad = 'x'.repeat(1000);
for (let i = 0; i < 4000; i++) logger.info({ i, pad }, 'line');
`;

  const header = (): string => `
import { createLogger, exitAfterFlush, exitOnSignal, flushLogger, flushOnCrash, quarantineLineAllowed } from '${src('app/logger.js')}';
import { MembraneError } from '${src('core/errors.js')}';
import { reportError } from '${src('cli/errors.js')}';
void createLogger; void exitAfterFlush; void exitOnSignal; void flushLogger; void flushOnCrash; void quarantineLineAllowed;
void MembraneError; void reportError;
`;

  it('on a fatal error, writes every line logged, then the sentence, then exits with its code', async () => {
    const { code, stdout, stderr } = await run(
      'fatal',
      `${header()}
const logger = createLogger('info');
const pad = 'y'.repeat(100);
// Rounds of sizes where sonic-boom's flush(cb) alone leaves its last chunk (< 4 KB) unwritten,
// each followed by a line written past the logger, as reportError writes.
let i = 0;
for (const n of [10, 300, 1000, 2000]) {
  for (let k = 0; k < n; k++) logger.info({ i: i++, pad }, 'line');
  await flushLogger(logger);
  process.stderr.write('round ' + n + ' flushed\\n');
}
logger.error('the consumer cannot recover');
// As run.ts does on a fatal fault: the log, then the sentence, then the exit.
await flushLogger(logger);
const code = reportError(new MembraneError('kafka.unauthorized', 'Kafka refused membrane.'));
await exitAfterFlush(logger, code);
`,
    );
    expect(code).toBe(1);
    expect(stdout).toBe('');
    const lines = stderr.trimEnd().split('\n');
    const expected = [
      ...[10, 300, 1000, 2000].flatMap((n, r, all) => {
        const from = all.slice(0, r).reduce((a, b) => a + b, 0);
        return [...Array.from({ length: n }, (_, k) => `i=${from + k}`), `round ${n} flushed`];
      }),
      'msg=the consumer cannot recover',
      'membrane: Kafka refused membrane.',
    ];
    const shown = lines.map((line) => {
      if (!line.startsWith('{')) return line;
      const json = JSON.parse(line) as { i?: number; msg: string };
      return json.i === undefined ? `msg=${json.msg}` : `i=${json.i}`;
    });
    expect(shown).toEqual(expected);
  });

  it('writes a line still in its buffer when the process exits through exitAfterFlush', async () => {
    const { code, stderr } = await run(
      'exit',
      `${header()}
const logger = createLogger('info');
logger.info('stopping');
await exitAfterFlush(logger, 0);
`,
    );
    expect(code).toBe(0);
    expect(JSON.parse(stderr)).toMatchObject({ msg: 'stopping', service: 'membrane' });
  });

  it('on an uncaught exception, writes what was logged and the pending summary before Node prints the error', async () => {
    const { code, stderr } = await run(
      'uncaught',
      `${header()}
const logger = createLogger('info', { quarantinedPerSecond: 1 });
flushOnCrash(logger);
for (let i = 0; i < 3; i++)
  if (quarantineLineAllowed(logger, 'decode.invalid-json')) logger.warn({ i }, 'record quarantined');
logger.info('last words');
setImmediate(() => {
  throw new Error('boom');
});
`,
    );
    expect(code).toBe(1);
    const crash = stderr.indexOf('Error: boom');
    const lines = stderr
      .slice(0, crash)
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { i: 0, msg: 'record quarantined' },
      { msg: 'last words' },
      { suppressed: 2, byCode: { 'decode.invalid-json': 2 } },
    ]);
  });

  it('drops what exceeds 16 MiB unwritten, and says how many lines it dropped', async () => {
    // 24 MB logged in one synchronous loop: nothing can be written until it ends.
    const { code, stderr } = await run(
      'flood',
      `${header()}
const logger = createLogger('info');
const pad = 'x'.repeat(190);
for (let i = 0; i < 100_000; i++) logger.info({ i, pad }, 'line');
await exitAfterFlush(logger, 0);
`,
    );
    expect(code).toBe(0);
    const lines = stderr
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { msg: string; i?: number; dropped?: number });
    const kept = lines.filter((l) => l.msg === 'line');
    const said = lines.filter((l) => l.dropped !== undefined);
    expect(kept.length).toBeGreaterThan(50_000);
    expect(kept.length).toBeLessThan(100_000);
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({
      level: 'warn',
      msg: expect.stringMatching(/^log lines dropped/) as unknown,
    });
    expect(kept.length + (said[0]?.dropped ?? 0)).toBe(100_000);
    // The first lines are kept, in order: the newest are the ones dropped.
    expect(kept.map((l) => l.i)).toEqual([...Array(kept.length).keys()]);
  });

  it('does not block the event loop while nobody reads stderr', async () => {
    // 4 MB of log lines into a pipe that holds 64 KB and is not read: a synchronous logger
    // would block in write(2) for ever, and the child would never say its event loop is free.
    const { code, stdout, stderr } = await run(
      'unread',
      `${header()}
const logger = createLogger('info');
const pad = 'x'.repeat(1000);
for (let i = 0; i < 4000; i++) logger.info({ i, pad }, 'line');
setImmediate(() => {
  process.stdout.write('event loop free\\n', () => {
    void exitAfterFlush(logger, 0);
  });
});
`,
      false,
    );
    expect(code).toBe(0);
    expect(stdout).toBe('event loop free\n');
    const lines = stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(4000);
    expect((JSON.parse(lines[3999] ?? '{}') as { i: number }).i).toBe(3999);
  });

  describe('exits when nobody reads stderr, ever (what was not written is dropped)', () => {
    it('through exitAfterFlush, once the flush has timed out', async () => {
      const { code, signal, stdout } = await runUnread(
        'never-read-exit',
        `${header()}
const logger = createLogger('info');
${fill}
setImmediate(() => {
  process.stdout.write('exiting\\n', () => {
    void exitAfterFlush(logger, 3);
  });
});
`,
      );
      expect(stdout).toBe('exiting\n');
      expect({ code, signal }).toEqual({ code: 3, signal: null });
    }, 60_000);

    it('on a second signal (the log written out synchronously first)', async () => {
      const { code, signal } = await runUnread(
        'never-read-signal',
        `${header()}
const logger = createLogger('info');
// As membrane run does once stopping.
exitOnSignal(logger, ['SIGTERM', 'SIGINT'], 'second signal');
${fill}
setInterval(() => undefined, 1000);
process.stdout.write('ready\\n');
`,
        (child) => child.kill('SIGTERM'),
      );
      expect({ code, signal }).toEqual({ code: null, signal: 'SIGTERM' });
    }, 60_000);

    it('on an uncaught exception', async () => {
      const { code, signal } = await runUnread(
        'never-read-crash',
        `${header()}
const logger = createLogger('info');
flushOnCrash(logger);
${fill}
setImmediate(() => {
  throw new Error('boom');
});
`,
      );
      expect({ code, signal }).toEqual({ code: 1, signal: null });
    }, 60_000);

    it('on process.exit without a flush (pino writes out on exit)', async () => {
      const { code, signal } = await runUnread(
        'never-read-plain-exit',
        `${header()}
const logger = createLogger('info');
${fill}
setImmediate(() => process.exit(4));
`,
      );
      expect({ code, signal }).toEqual({ code: 4, signal: null });
    }, 60_000);
  });
});
