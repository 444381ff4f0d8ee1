/**
 * npm run bench:e2e — membrane against the bare-client ceiling, on the same records, in one run.
 *
 * - ceiling: a kafkajs consumer-group passthrough that produces every record's bytes to an
 *   output topic (acks=all, offsets auto-committed), the fastest a kafkajs processor can go;
 * - membrane at-least-once and exactly-once, the example legacy-orders mapping, same records.
 *
 * Throughput is measured from the moment the group has committed 5% of the records to the
 * moment it has committed all of them (group joins and start-up stay outside), median of
 * BENCH_ROUNDS. Latency: records offered at half the ceiling rate for BENCH_LATENCY_S seconds;
 * upstream timestamp → the translated record seen by a read_committed consumer; also at half
 * each mode's own rate and at BENCH_LIGHT_RPS (2,000/s). CPU and peak
 * RSS are this process's (the broker runs in its own). MEMBRANE_* variables in the environment
 * tune the membrane runs (e.g. MEMBRANE_COMMIT_MAX_RECORDS). Last line: one JSON object.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Admin, Kafka, Message } from 'kafkajs';
import { createKafka } from '../src/adapters/kafka/client.js';
import { ensureTopics } from '../src/adapters/kafka/topics.js';
import { loadRunConfig } from '../src/app/config.js';
import { signErp } from '../src/app/demo.js';
import { createLogger } from '../src/app/logger.js';
import { Runtime } from '../src/app/runtime/bootstrap.js';
import { projectRoot } from '../src/infra/paths.js';
import { freePort } from '../src/infra/ports.js';
import { createProgress } from '../src/infra/progress.js';
import { acquireInfrastructure } from '../src/infra/select.js';
import { waitFor } from '../src/infra/wait.js';

const N = Number(process.env['BENCH_RECORDS'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const BAD_SHARE = Number(process.env['BENCH_BAD_SHARE'] ?? 0.1);
const PARTITIONS = 6;
const LATENCY_S = Number(process.env['BENCH_LATENCY_S'] ?? 10);
const LIGHT_RPS = Number(process.env['BENCH_LIGHT_RPS'] ?? 2000);
/** MEMBRANE_* settings from the environment (commit size, interval…) apply to the runs. */
const tuning = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) =>
      name.startsWith('MEMBRANE_') && !['MEMBRANE_CACHE_DIR', 'MEMBRANE_INFRA_DIR'].includes(name),
  ),
);
const KEY = 'bench-erp-key';
const run = randomUUID().slice(0, 6);
const root = projectRoot();

/** An order of realistic size; a BAD_SHARE of them forged, broken or with an unknown code. */
function order(i: number, timestamp?: number): Message {
  const lines = 1 + (i % 4);
  const bad = (i * 7919) % 1000 < BAD_SHARE * 1000 ? i % 3 : -1;
  const orderId = `${100000 + (i % 5000)}`;
  const value =
    bad === 1
      ? Buffer.from(`{"order_id": "${orderId}", "total_amount": `)
      : Buffer.from(
          JSON.stringify({
            event_id: `${run}-${i}`,
            type: 'C',
            schema_version: 2,
            order_id: orderId,
            customer_no: `K-${i % 997}`,
            total_amount: `${lines * 19}.90`,
            currency_code: 'EUR',
            created: '21.11.2026 14:05',
            status: bad === 2 ? 'Q' : 'N',
            line_items: Array.from({ length: lines }, (_, l) => ({
              sku: `SKU-${(i + l) % 977}`,
              qty: '1',
              unit_price: '19.90',
              weight_g: 250 * (l + 1),
            })),
          }),
        );
  return {
    key: orderId,
    value,
    ...(timestamp === undefined ? {} : { timestamp: String(timestamp) }),
    headers: {
      'x-source-system': 'legacy-erp',
      'x-key-id': 'k1',
      'x-signature': signErp(value, bad === 0 ? 'forged' : KEY),
    },
  };
}

async function produce(kafka: Kafka, topic: string, from: number, count: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  for (let at = from; at < from + count; at += 2000) {
    await producer.send({
      topic,
      acks: -1,
      messages: Array.from({ length: Math.min(2000, from + count - at) }, (_, n) => order(at + n)),
    });
  }
  await producer.disconnect();
}

async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

interface Measured {
  readonly rps: number;
  readonly cpuSeconds: number;
}

/** Polls the group's commits: time from 5% to 100% of `total`, with this process's CPU. */
async function measure(
  admin: Admin,
  group: string,
  topic: string,
  total: number,
): Promise<Measured> {
  let startAt = 0;
  let cpuStart = process.cpuUsage();
  const deadline = Date.now() + 600_000;
  for (;;) {
    const done = await committed(admin, group, topic);
    if (startAt === 0 && done >= total * 0.05) {
      startAt = performance.now();
      cpuStart = process.cpuUsage();
    }
    if (done >= total) {
      const seconds = (performance.now() - startAt) / 1000;
      const cpu = process.cpuUsage(cpuStart);
      return { rps: (total * 0.95) / seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
    }
    if (Date.now() > deadline) throw new Error(`${group}: ${done} of ${total} after 10 minutes`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function ceiling(
  kafka: Kafka,
  admin: Admin,
  input: string,
  output: string,
  round: number,
): Promise<Measured> {
  const group = `bench-ceiling-${run}-${round}`;
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const consumer = kafka.consumer({ groupId: group, maxWaitTimeInMs: 100, minBytes: 64 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatch: async (payload) => {
      const { batch } = payload;
      for (let at = 0; at < batch.messages.length; at += 500) {
        const chunk = batch.messages.slice(at, at + 500);
        await producer.sendBatch({
          acks: -1,
          topicMessages: [
            {
              topic: output,
              messages: chunk.map((m) => ({
                key: m.key,
                value: m.value,
                headers: m.headers ?? {},
              })),
            },
          ],
        });
        payload.resolveOffset(chunk[chunk.length - 1]?.offset ?? '0');
        await payload.commitOffsetsIfNecessary();
      }
    },
  });
  const result = await measure(admin, group, input, N);
  await consumer.disconnect();
  await producer.disconnect();
  return result;
}

async function membrane(
  brokers: readonly string[],
  registryUrl: string,
  admin: Admin,
  mappings: string,
  input: string,
  guarantee: 'exactly_once' | 'at_least_once',
  group: string,
  total: number,
): Promise<{ runtime: Runtime; measured: Promise<Measured> }> {
  const runtime = new Runtime({
    config: loadRunConfig({
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      MEMBRANE_GROUP_ID: group,
      MEMBRANE_MAPPINGS: mappings,
      MEMBRANE_QUARANTINE_TOPIC: `bench.quarantine.${run}`,
      MEMBRANE_PROCESSING_GUARANTEE: guarantee,
      MEMBRANE_HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
      ...tuning,
    }),
    logger: createLogger('silent'),
    env: { ...process.env, ERP_HMAC_KEY_1: KEY, ERP_HMAC_KEY_2: KEY },
  });
  await runtime.start();
  return { runtime, measured: measure(admin, group, input, total) };
}

/** Offers records at `rate`/s with their send time; returns translated-record latencies (ms). */
async function latency(
  kafka: Kafka,
  input: string,
  output: string,
  rate: number,
  start: () => Promise<() => Promise<void>>,
): Promise<number[]> {
  const seen: number[] = [];
  const reader = kafka.consumer({
    groupId: `bench-reader-${randomUUID().slice(0, 8)}`,
    maxWaitTimeInMs: 50,
  });
  await reader.connect();
  await reader.subscribe({ topics: [output], fromBeginning: false });
  await reader.run({
    eachMessage: ({ message }) => {
      const sent = Number(message.headers?.['membrane.source.timestamp']?.toString());
      if (sent > 0) seen.push(Date.now() - sent);
      return Promise.resolve();
    },
  });
  // Let the reader's group settle before the load starts.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const stop = await start();
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const began = Date.now();
  let sent = 0;
  let i = 10_000_000;
  while (Date.now() - began < LATENCY_S * 1000) {
    const due = Math.floor(((Date.now() - began) / 1000) * rate);
    if (due > sent) {
      const now = Date.now();
      // At most 500 a request: a burst after a pause must not exceed the broker's batch limit.
      const count = Math.min(due - sent, 500);
      await producer.send({
        topic: input,
        acks: -1,
        messages: Array.from({ length: count }, () => order(i++, now)),
      });
      sent += count;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await producer.disconnect();
  await new Promise((resolve) => setTimeout(resolve, 2000));
  await stop();
  await reader.disconnect();
  return seen;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const infra = await acquireInfrastructure({ progress: createProgress() });
const kafka = createKafka({ brokers: infra.brokers, clientId: 'membrane-bench-e2e' });
const admin = kafka.admin();
await admin.connect();
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 100);
try {
  const input = `bench.orders.${run}`;
  const passthrough = `bench.passthrough.${run}`;
  const placed = `bench.order-placed.${run}`;
  await ensureTopics(
    admin,
    [input, passthrough].map((topic) => ({ topic, numPartitions: PARTITIONS })),
  );
  // One mapping folder for the throughput rounds, one for the live latency phase.
  await mkdir(join(root, '.cache'), { recursive: true });
  const example = await readFile(join(root, 'mappings/legacy-orders.yaml'), 'utf8');
  const folderFor = async (topic: string, output = placed): Promise<string> => {
    const folder = await mkdtemp(join(root, '.cache', 'bench-mappings-'));
    const text = example
      .replace('topics: [erp.orders]', `topics: [${topic}]`)
      .replace('topic: sales.order-placed.v1', `topic: ${output}`)
      .replace('topic: sales.order-cancelled.v1', `topic: bench.order-cancelled.${run}`)
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`);
    await writeFile(join(folder, 'legacy-orders.yaml'), text);
    return folder;
  };
  const mappings = await folderFor(input);
  await produce(kafka, input, 0, N);
  console.log(
    `${N.toLocaleString('en')} upstream orders (${Math.round(BAD_SHARE * 100)}% bad) on ${PARTITIONS} partitions; median of ${ROUNDS} rounds`,
  );

  const results: Record<'ceiling' | 'alo' | 'eos', Measured[]> = { ceiling: [], alo: [], eos: [] };
  for (let round = 0; round < ROUNDS; round++) {
    results.ceiling.push(await ceiling(kafka, admin, input, passthrough, round));
    for (const [mode, guarantee] of [
      ['alo', 'at_least_once'],
      ['eos', 'exactly_once'],
    ] as const) {
      const { runtime, measured } = await membrane(
        infra.brokers,
        infra.registryUrl,
        admin,
        mappings,
        input,
        guarantee,
        `bench-${mode}-${run}-${round}`,
        N,
      );
      results[mode].push(await measured);
      await runtime.stop();
    }
    console.log(
      `round ${round + 1}: ceiling ${Math.round(results.ceiling[round]?.rps ?? 0)} rec/s, at-least-once ${Math.round(results.alo[round]?.rps ?? 0)}, exactly-once ${Math.round(results.eos[round]?.rps ?? 0)}`,
    );
  }
  const rps = (mode: keyof typeof results): number => median(results[mode].map((r) => r.rps));
  const cpuPer1k = (mode: keyof typeof results): number =>
    ((median(results[mode].map((r) => r.cpuSeconds)) * 1000) / (N * 0.95)) * 1000;

  // Latency under a fixed offered load: half the ceiling (as specified), and half of each
  // mode's own throughput (an operating point it can sustain). Each phase on fresh topics.
  const live = async (mode: 'alo' | 'eos', rate: number): Promise<number[]> => {
    const guarantee = mode === 'alo' ? 'at_least_once' : 'exactly_once';
    const liveInput = `bench.live-in.${mode}.${rate}.${run}`;
    const liveOutput = `bench.live-out.${mode}.${rate}.${run}`;
    await ensureTopics(admin, [
      { topic: liveInput, numPartitions: PARTITIONS },
      { topic: liveOutput, numPartitions: PARTITIONS },
    ]);
    const folder = await folderFor(liveInput, liveOutput);
    const latencies = await latency(kafka, liveInput, liveOutput, rate, async () => {
      // `membrane run` in a process of its own, as deployed: the load generator and the
      // latency reader in this process must not share its event loop.
      const port = await freePort();
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run'],
        {
          cwd: root,
          stdio: ['ignore', 'ignore', 'inherit'],
          env: {
            ...process.env,
            KAFKA_BROKERS: infra.brokers.join(','),
            SCHEMA_REGISTRY_URL: infra.registryUrl,
            MEMBRANE_GROUP_ID: `bench-live-${mode}-${rate}-${run}`,
            MEMBRANE_MAPPINGS: folder,
            MEMBRANE_QUARANTINE_TOPIC: `bench.quarantine.${run}`,
            MEMBRANE_PROCESSING_GUARANTEE: guarantee,
            MEMBRANE_HTTP_PORT: String(port),
            LOG_LEVEL: 'error',
            ERP_HMAC_KEY_1: KEY,
            ERP_HMAC_KEY_2: KEY,
            ...tuning,
          },
        },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Load starts once the member has joined and its tasks are restored.
      const ready = await waitFor(
        async () => {
          const response = await fetch(`http://127.0.0.1:${port}/readyz`);
          if (!response.ok) throw new Error(`readyz ${response.status}`);
        },
        { timeoutMs: 60_000, intervalMs: 100 },
      );
      if (!ready.ok) throw new Error(`membrane did not become ready: ${ready.reason}`);
      return async () => {
        child.kill('SIGTERM');
        await exited;
      };
    });
    console.log(
      `latency, ${mode}, ${rate} rec/s offered for ${LATENCY_S} s: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms (${latencies.length} translated records seen)`,
    );
    return latencies;
  };
  const offered = Math.round(rps('ceiling') / 2);
  const lat = { alo: await live('alo', offered), eos: await live('eos', offered) };
  const sustainable = {
    alo: await live('alo', Math.round(rps('alo') / 2)),
    eos: await live('eos', Math.round(rps('eos') / 2)),
  };
  // And a light load, well inside what this machine sustains with the broker, the load
  // generator and the reader on the same two cores.
  const light = { alo: await live('alo', LIGHT_RPS), eos: await live('eos', LIGHT_RPS) };

  const summary = {
    bench: 'e2e',
    ceiling_rps: Math.round(rps('ceiling')),
    alo_rps: Math.round(rps('alo')),
    eos_rps: Math.round(rps('eos')),
    alo_ratio: Number((rps('alo') / rps('ceiling')).toFixed(3)),
    eos_ratio: Number((rps('eos') / rps('ceiling')).toFixed(3)),
    alo_p50_ms: percentile(lat.alo, 50),
    alo_p99_ms: percentile(lat.alo, 99),
    eos_p50_ms: percentile(lat.eos, 50),
    eos_p99_ms: percentile(lat.eos, 99),
    alo_half_own_p99_ms: percentile(sustainable.alo, 99),
    eos_half_own_p99_ms: percentile(sustainable.eos, 99),
    alo_light_p50_ms: percentile(light.alo, 50),
    alo_light_p99_ms: percentile(light.alo, 99),
    eos_light_p50_ms: percentile(light.eos, 50),
    eos_light_p99_ms: percentile(light.eos, 99),
    cpu_ms_per_1k: {
      ceiling: Math.round(cpuPer1k('ceiling')),
      alo: Math.round(cpuPer1k('alo')),
      eos: Math.round(cpuPer1k('eos')),
    },
    peak_rss_mb: Math.round(peakRss / 1024 / 1024),
  };
  const range = (mode: keyof typeof results): string => {
    const values = results[mode].map((r) => Math.round(r.rps));
    return `${Math.min(...values)}–${Math.max(...values)}`;
  };
  console.log(
    `range over ${ROUNDS} rounds (rec/s): ceiling ${range('ceiling')}, at-least-once ${range('alo')}, exactly-once ${range('eos')}`,
  );
  console.log(
    `ceiling ${summary.ceiling_rps} rec/s · at-least-once ${summary.alo_rps} (${summary.alo_ratio}) · exactly-once ${summary.eos_rps} (${summary.eos_ratio}) · CPU ms per 1,000 records ${JSON.stringify(summary.cpu_ms_per_1k)} · peak RSS ${summary.peak_rss_mb} MB`,
  );
  console.log(JSON.stringify(summary));
} finally {
  clearInterval(rssTimer);
  await admin.disconnect();
  await infra.release();
}
