/**
 * npm run bench:restore — how long a task takes to restore the vector clocks of
 * BENCH_KEYS aggregates (default 1,000,000) from its changelog, and the memory they take.
 * Writes the changelog in transactions (as membrane does), then restores it BENCH_RUNS times
 * (default 3), each in a fresh process as a newly assigned task would, so each RSS is its own.
 * Needs Kafka: KAFKA_BROKERS, or the local one (started if needed). BENCH_TOPIC restores an
 * existing changelog instead (not written, not deleted), e.g. to compare runs of the restore.
 *
 * The restoring process keeps the state as the runtime does: the runtime's TaskState (clocks,
 * dedup window, and the last-change times that clock retention needs), fed record by record
 * from the changelog's key, value and timestamp.
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { KafkaMessage } from 'kafkajs';
import { createKafka } from '../src/adapters/kafka/client.js';
import { restorePartitions } from '../src/adapters/kafka/restore.js';
import { ensureTopics } from '../src/adapters/kafka/topics.js';
import { formatClock } from '../src/core/vector-clock.js';
import { createProgress } from '../src/infra/progress.js';
import { acquireInfrastructure } from '../src/infra/select.js';
import { TaskState } from '../src/app/runtime/state.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);
const RUNS = Number(process.env['BENCH_RUNS'] ?? 3);
const MB = 1024 * 1024;

interface RunFigures {
  readonly restore_s: number;
  readonly cpu_s: number;
  readonly loop_max_ms: number;
  readonly loop_p99_ms: number;
  readonly rss_mb: number;
  readonly peak_rss_mb: number;
  readonly heap_mb: number;
  readonly records: number;
}

if (process.argv[2] === '--restore') {
  const topic = process.argv[3] ?? '';
  const kafka = createKafka({
    brokers: (process.env['KAFKA_BROKERS'] ?? '').split(','),
    clientId: 'membrane-bench-restore',
  });
  // The runtime's own state class, with the default clock retention (7 days) on.
  const state = new TaskState(100_000, 7 * 24 * 3600 * 1000);
  // How long the event loop was held at a time (heartbeats and health checks wait that long).
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  const { records, ms } = await restorePartitions(
    kafka,
    topic,
    [0],
    (_p, { key, value, timestamp }: KafkaMessage) => {
      if (key !== null)
        state.restoreRecord(
          key.toString('utf8'),
          value === null ? null : value.toString('utf8'),
          Number(timestamp),
        );
    },
    { groupPrefix: 'bench' },
  );
  loop.disable();
  global.gc?.();
  const memory = process.memoryUsage();
  const peak = process.resourceUsage().maxRSS * 1024;
  const cpu = process.cpuUsage();
  const cpuS = (cpu.user + cpu.system) / 1e6;
  console.log(
    `restored ${records.toLocaleString('en')} records (${state.clocks.size.toLocaleString('en')} aggregates) in ${(ms / 1000).toFixed(1)} s (process CPU ${cpuS.toFixed(1)} s, event loop held ≤ ${(loop.max / 1e6).toFixed(0)} ms, p99 ${(loop.percentile(99) / 1e6).toFixed(0)} ms); ` +
      `RSS ${(memory.rss / MB).toFixed(0)} MB (peak ${(peak / MB).toFixed(0)} MB), heap ${(memory.heapUsed / MB).toFixed(0)} MB of ${(memory.heapTotal / MB).toFixed(0)} MB, buffers ${(memory.arrayBuffers / MB).toFixed(0)} MB`,
  );
  const figures: RunFigures = {
    restore_s: Number((ms / 1000).toFixed(1)),
    cpu_s: Number(cpuS.toFixed(1)),
    loop_max_ms: Math.round(loop.max / 1e6),
    loop_p99_ms: Math.round(loop.percentile(99) / 1e6),
    rss_mb: Math.round(memory.rss / MB),
    peak_rss_mb: Math.round(peak / MB),
    heap_mb: Math.round(memory.heapUsed / MB),
    records,
  };
  console.log(JSON.stringify(figures));
  process.exit(0);
}

const infra = await acquireInfrastructure({ progress: createProgress() });
const kafka = createKafka({ brokers: infra.brokers, clientId: 'membrane-bench-restore' });
const given = process.env['BENCH_TOPIC'];
const topic = given ?? `bench.restore.${randomUUID().slice(0, 8)}`;
const admin = kafka.admin();
await admin.connect();
try {
  if (given === undefined) {
    await ensureTopics(admin, [
      { topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ]);
    const producer = kafka.producer({
      transactionalId: `${topic}.writer`,
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    const written = Date.now();
    const BATCH = 5000;
    for (let from = 0; from < KEYS; from += BATCH) {
      const txn = await producer.transaction();
      await txn.send({
        topic,
        messages: Array.from({ length: Math.min(BATCH, KEYS - from) }, (_, n) => ({
          key: `c|order-${from + n}`,
          value: formatClock({ 'legacy-erp': 1 + ((from + n) % 7), wms: (from + n) % 3 }),
          partition: 0,
        })),
      });
      await txn.commit();
    }
    await producer.disconnect();
    console.log(
      `wrote ${KEYS.toLocaleString('en')} clocks in ${((Date.now() - written) / 1000).toFixed(1)} s`,
    );
  }

  const runs: RunFigures[] = [];
  for (let run = 0; run < RUNS; run++) {
    // A fresh process, as a newly assigned member would be, so its RSS is its own.
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--restore', topic],
      {
        env: {
          ...process.env,
          KAFKA_BROKERS: infra.brokers.join(','),
          SCHEMA_REGISTRY_URL: infra.registryUrl,
        },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const lines = child.stdout.trim().split('\n');
    console.log(`run ${run + 1}: ${lines[0] ?? '(no output)'}`);
    const last = lines[lines.length - 1];
    if (child.status !== 0 || last === undefined) throw new Error('the restoring process failed');
    runs.push(JSON.parse(last) as RunFigures);
  }
  const most = (pick: (r: RunFigures) => number): number => Math.max(...runs.map(pick));
  console.log(
    JSON.stringify({
      bench: 'restore',
      keys: runs[0]?.records ?? 0,
      runs: runs.length,
      restore_s: most((r) => r.restore_s),
      cpu_s: most((r) => r.cpu_s),
      loop_max_ms: most((r) => r.loop_max_ms),
      loop_p99_ms: most((r) => r.loop_p99_ms),
      rss_mb: most((r) => r.rss_mb),
      peak_rss_mb: most((r) => r.peak_rss_mb),
      heap_mb: most((r) => r.heap_mb),
    }),
  );
} finally {
  if (given === undefined) await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await infra.release();
}
