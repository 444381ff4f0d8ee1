/**
 * What a flood of quarantined records costs in logging: 100,000 'record quarantined' warnings
 * (BENCH_LOG_LINES) through
 *
 * - main:          what src/app/logger.ts did: `pino.destination(2)`, which is sonic-boom's
 *                  asynchronous mode (its default) with no buffer limit and no minimum;
 * - sync:          `pino.destination({ dest: 2, sync: true })`, a blocking write(2) per line;
 * - async:         createLogger now (asynchronous, 4 KB chunks, 16 MiB cap), every line logged;
 * - async+limit:   createLogger with the quarantine line limiter (10 lines/s), as task.ts does.
 *
 * Each variant runs in a process of its own whose stderr goes to BENCH_LOG_TARGET: `/dev/null`
 * (default), a file path, `pipe` (a shell pipe into `wc -c`) or `slow-pipe` (a shell pipe into
 * a reader of 64 KB every 10 ms, 6.4 MB/s: a log shipper that cannot keep up). Per variant:
 * `loop ms`, how long the logging loop blocked the event loop; `exit ms`, from the loop's start
 * until the process exits with every line written; `cpu ms`, the process's user+system CPU over
 * that time; `bytes`, what came through a pipe. The last line is one JSON object.
 *
 * Run: npx tsx bench/logging.ts (BENCH_LOG_TARGET=/tmp/log.json|pipe|slow-pipe)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { createLogger, exitAfterFlush, quarantineLineAllowed } from '../src/app/logger.js';

const LINES = Number(process.env['BENCH_LOG_LINES'] ?? 100_000);
const TARGET = process.env['BENCH_LOG_TARGET'] ?? '/dev/null';
const VARIANTS = ['main', 'sync', 'async', 'async+limit'] as const;
type Variant = (typeof VARIANTS)[number];

interface Measured {
  readonly variant: Variant;
  /** The event loop blocked by the logging loop. */
  readonly loopMs: number;
  /** From the loop's start until the process exits, every line written. */
  readonly exitMs: number;
  /** User+system CPU of the process over that time. */
  readonly cpuMs: number;
  /** Lines the loop logged. */
  readonly logged: number;
  /** Bytes that came through the pipe (pipe targets): fewer than logged when lines were dropped. */
  readonly bytes?: number;
}

const CODES = ['decode.invalid-json', 'map.missing-field', 'trust.signature-invalid'];

function loggerFor(variant: Variant): Logger {
  const base = { level: 'info', base: { service: 'membrane' } };
  switch (variant) {
    case 'main':
      // What src/app/logger.ts did: sonic-boom on fd 2, asynchronous (its default), minLength 0.
      return pino(base, pino.destination(2));
    case 'sync':
      return pino(base, pino.destination({ dest: 2, sync: true }));
    case 'async':
      return createLogger('info', { quarantinedPerSecond: Number.MAX_SAFE_INTEGER });
    case 'async+limit':
      return createLogger('info');
  }
}

/** One variant, in this (child) process, logging to its stderr; the result goes to `file`. */
async function measure(variant: Variant, file: string): Promise<never> {
  const logger = loggerFor(variant);
  const limited = variant === 'async+limit';
  const cpu = process.cpuUsage();
  const started = performance.now();
  let logged = 0;
  for (let i = 0; i < LINES; i++) {
    const code = CODES[i % CODES.length] ?? 'decode.invalid-json';
    // As task.ts logs a quarantined record.
    if (limited && !quarantineLineAllowed(logger, code)) continue;
    logger.warn(
      {
        task: 'orders/wms.stock-adjustments/3',
        topic: 'wms.stock-adjustments',
        offset: String(1_000_000 + i),
        mapping: 'wms-stock@3',
        code,
        stage: code.slice(0, code.indexOf('.')),
      },
      'record quarantined',
    );
    logged += 1;
  }
  const loopMs = performance.now() - started;
  // Registered after pino's own exit hook (which writes out what is left): runs after it.
  process.on('exit', () => {
    const used = process.cpuUsage(cpu);
    const result: Measured = {
      variant,
      loopMs,
      exitMs: performance.now() - started,
      cpuMs: (used.user + used.system) / 1000,
      logged,
    };
    writeFileSync(file, JSON.stringify(result));
  });
  if (variant === 'main' || variant === 'sync') process.exit(0);
  return exitAfterFlush(logger, 0);
}

/** A reader of stdin at 64 KB every 10 ms (6.4 MB/s) that prints the bytes it read. */
const SLOW_READER = `
const fs = require('fs');
const buffer = Buffer.alloc(64 * 1024);
const pause = new Int32Array(new SharedArrayBuffer(4));
let bytes = 0;
for (;;) {
  const n = fs.readSync(0, buffer, 0, buffer.length, null);
  if (n === 0) break;
  bytes += n;
  Atomics.wait(pause, 0, 0, 10);
}
fs.writeFileSync(process.argv[1], String(bytes));
`;

/**
 * Runs one variant in a child process with stderr to TARGET (a shell pipeline for the pipe
 * targets, as a container runtime's log pipe would be); the child writes its result to a file.
 */
function inChild(variant: Variant): Measured {
  const dir = mkdtempSync(join(tmpdir(), 'bench-logging-'));
  const resultFile = join(dir, 'result.json');
  const bytesFile = join(dir, 'bytes');
  const quote = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`;
  const command = [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url)]
    .map(quote)
    .join(' ');
  const child = `${command} --variant ${variant} --result ${quote(resultFile)}`;
  const script =
    TARGET === 'pipe'
      ? `${child} 2>&1 >/dev/null | wc -c > ${quote(bytesFile)}`
      : TARGET === 'slow-pipe'
        ? `${child} 2>&1 >/dev/null | ${quote(process.execPath)} -e ${quote(SLOW_READER)} ${quote(bytesFile)}`
        : `${child} 2>${quote(TARGET)}`;
  try {
    execFileSync('sh', ['-c', script], { stdio: 'inherit' });
    const result = JSON.parse(readFileSync(resultFile, 'utf8')) as Measured;
    if (TARGET !== 'pipe' && TARGET !== 'slow-pipe') return result;
    return { ...result, bytes: Number(readFileSync(bytesFile, 'utf8').trim()) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const variantArg = process.argv.indexOf('--variant');
if (variantArg >= 0) {
  const variant = process.argv[variantArg + 1] as Variant;
  await measure(variant, process.argv[process.argv.indexOf('--result') + 1] ?? '');
} else {
  const results: Measured[] = [];
  for (const variant of VARIANTS) results.push(inChild(variant));
  const fmt = (n: number): string => n.toFixed(0).padStart(9);
  process.stdout.write(
    `${LINES.toLocaleString('en')} quarantine warnings, stderr to ${TARGET}, Node ${process.version}\n`,
  );
  process.stdout.write(
    `${'variant'.padEnd(12)} ${['loop ms', 'exit ms', 'cpu ms', 'lines', 'bytes'].map((h) => h.padStart(9)).join(' ')}\n`,
  );
  for (const r of results)
    process.stdout.write(
      `${r.variant.padEnd(12)} ${fmt(r.loopMs)} ${fmt(r.exitMs)} ${fmt(r.cpuMs)} ${fmt(r.logged)} ${r.bytes === undefined ? '' : fmt(r.bytes)}\n`,
    );
  process.stdout.write(`${JSON.stringify({ lines: LINES, target: TARGET, results })}\n`);
}
