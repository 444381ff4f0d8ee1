/**
 * npm run bench:restore — how long a task takes to restore the vector clocks of
 * BENCH_KEYS aggregates (default 1,000,000) from its changelog, and the memory they take.
 * Writes the changelog in transactions (as membrane does), then restores it as a newly
 * assigned task would. Needs Kafka: KAFKA_BROKERS, or the local one (started if needed).
 */
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createKafka } from '../src/adapters/kafka/client.js';
import { restorePartitions } from '../src/adapters/kafka/restore.js';
import { ensureTopics } from '../src/adapters/kafka/topics.js';
import { formatClock } from '../src/core/vector-clock.js';
import { createProgress } from '../src/infra/progress.js';
import { acquireInfrastructure } from '../src/infra/select.js';
import { TransactionalClocks } from '../src/pipeline/ports.js';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 1_000_000);

if (process.argv[2] === '--restore') {
  const topic = process.argv[3] ?? '';
  const kafka = createKafka({
    brokers: (process.env['KAFKA_BROKERS'] ?? '').split(','),
    clientId: 'membrane-bench-restore',
  });
  const clocks = new TransactionalClocks();
  const { records, ms } = await restorePartitions(
    kafka,
    topic,
    [0],
    (_p, { key, value }) => {
      if (key && value)
        clocks.restore(
          key.toString().slice(2),
          JSON.parse(value.toString()) as Record<string, number>,
        );
    },
    { groupPrefix: 'bench', timeoutMs: 600_000 },
  );
  global.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  console.log(
    `restored ${records.toLocaleString('en')} records (${clocks.size.toLocaleString('en')} aggregates) in ${(ms / 1000).toFixed(1)} s`,
  );
  console.log(
    `restoring process: RSS ${(rss / 1024 / 1024).toFixed(0)} MB, heap ${(heapUsed / 1024 / 1024).toFixed(0)} MB`,
  );
  console.log(
    JSON.stringify({
      bench: 'restore',
      keys: records,
      restore_s: Number((ms / 1000).toFixed(1)),
      rss_mb: Math.round(rss / 1024 / 1024),
      heap_mb: Math.round(heapUsed / 1024 / 1024),
    }),
  );
  process.exit(0);
}

const infra = await acquireInfrastructure({ progress: createProgress() });
const kafka = createKafka({ brokers: infra.brokers, clientId: 'membrane-bench-restore' });
const topic = `bench.restore.${randomUUID().slice(0, 8)}`;
const admin = kafka.admin();
await admin.connect();
try {
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

  // Restore in a fresh process, as a newly assigned member would, so its RSS is its own.
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
  process.stdout.write(child.stdout);
} finally {
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  await infra.release();
}
