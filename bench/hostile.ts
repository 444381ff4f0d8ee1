/**
 * npm run bench:hostile — what one hostile record costs membrane, on the real broker and
 * registry: the longest event-loop stall (perf_hooks' monitorEventLoopDelay, 10 ms
 * resolution), the CPU this process spent and the wall time from start until the group
 * committed past the records, per case:
 *
 * - headers: BENCH_HEADER_RECORDS (default 3) records with 10,000 headers each (80 KB);
 * - avro-bomb-5m / avro-bomb-50m: one Avro record whose writer schema (registered by the
 *   "producer") is the WMS schema plus a first field of type `array<null>`, its block count
 *   5,000,000 / 50,000,000 in 4-5 bytes.
 *
 * BENCH_CASES (comma-separated) picks cases. Each case runs a fresh in-process Runtime on its own topics, as `membrane run` would. The
 * last line is one JSON object.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import avro from 'avsc';
import type { Admin, Message } from 'kafkajs';
import { createKafka } from '../src/adapters/kafka/client.js';
import { ensureTopics } from '../src/adapters/kafka/topics.js';
import { ConfluentRegistryPort } from '../src/adapters/registry/port.js';
import { loadRunConfig } from '../src/app/config.js';
import { signErp } from '../src/app/demo.js';
import { createLogger } from '../src/app/logger.js';
import { Runtime } from '../src/app/runtime/bootstrap.js';
import { projectRoot } from '../src/infra/paths.js';
import { createProgress } from '../src/infra/progress.js';
import { acquireInfrastructure } from '../src/infra/select.js';
import { waitFor } from '../src/infra/wait.js';

const HEADER_RECORDS = Number(process.env['BENCH_HEADER_RECORDS'] ?? 3);
const HEADERS = Number(process.env['BENCH_HEADERS'] ?? 10_000);
const CASES = (process.env['BENCH_CASES'] ?? 'headers,avro-bomb-5m,avro-bomb-50m').split(',');
const KEY = 'bench-erp-key';
const run = randomUUID().slice(0, 6);
const root = projectRoot();

interface Measured {
  readonly case: string;
  readonly records: number;
  readonly maxStallMs: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

/** Zigzag varint of a non-negative count (Avro's long encoding). */
function avroLong(n: number): Buffer {
  const bytes: number[] = [];
  let z = n * 2;
  while (z >= 0x80) {
    bytes.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  bytes.push(z);
  return Buffer.from(bytes);
}

async function committed(admin: Admin, group: string, topic: string): Promise<number> {
  const offsets = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return offsets
    .flatMap((t) => t.partitions)
    .reduce((sum, p) => sum + Math.max(0, Number(p.offset)), 0);
}

async function measure(
  name: string,
  admin: Admin,
  brokers: readonly string[],
  registryUrl: string,
  mappings: string,
  topic: string,
  records: number,
): Promise<Measured> {
  const group = `bench-hostile-${name}-${run}`;
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  const runtime = new Runtime({
    config: loadRunConfig({
      KAFKA_BROKERS: brokers.join(','),
      SCHEMA_REGISTRY_URL: registryUrl,
      MEMBRANE_GROUP_ID: group,
      MEMBRANE_MAPPINGS: mappings,
      MEMBRANE_QUARANTINE_TOPIC: `bench.hostile.quarantine.${run}`,
      MEMBRANE_HTTP_PORT: '0',
      LOG_LEVEL: 'silent',
    }),
    logger: createLogger('silent'),
    env: { ...process.env, ERP_HMAC_KEY_1: KEY, ERP_HMAC_KEY_2: KEY },
  });
  const cpu = process.cpuUsage();
  const began = Date.now();
  histogram.enable();
  await runtime.start();
  const done = await waitFor(
    async () => {
      const at = await committed(admin, group, topic);
      if (at < records) throw new Error(`${at} of ${records} committed`);
    },
    { timeoutMs: 600_000, intervalMs: 100 },
  );
  const wallMs = Date.now() - began;
  histogram.disable();
  const used = process.cpuUsage(cpu);
  await runtime.stop();
  if (!done.ok) throw new Error(`${name}: not committed in 10 minutes`);
  return {
    case: name,
    records,
    maxStallMs: Math.round(histogram.max / 1e6),
    cpuMs: Math.round((used.user + used.system) / 1000),
    wallMs,
  };
}

const infra = await acquireInfrastructure({ progress: createProgress() });
const kafka = createKafka({ brokers: infra.brokers, clientId: 'membrane-bench-hostile' });
const admin = kafka.admin();
await admin.connect();
try {
  await mkdir(join(root, '.cache'), { recursive: true });
  const folder = async (file: string, replacements: [string, string][]): Promise<string> => {
    const dir = await mkdtemp(join(root, '.cache', 'bench-mappings-'));
    let text = await readFile(join(root, 'mappings', file), 'utf8');
    for (const [from, to] of replacements) text = text.replace(from, to);
    await writeFile(join(dir, file), text.replaceAll('../schemas/', `${join(root, 'schemas')}/`));
    return dir;
  };
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  const results: Measured[] = [];

  // 1. Header floods, signed correctly: only the header count is hostile.
  if (CASES.includes('headers')) {
    const topic = `bench.hostile.headers.${run}`;
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    const mappings = await folder('legacy-orders.yaml', [
      ['topics: [erp.orders]', `topics: [${topic}]`],
      ['topic: sales.order-placed.v1', `topic: bench.hostile.placed.${run}`],
      ['topic: sales.order-cancelled.v1', `topic: bench.hostile.cancelled.${run}`],
    ]);
    const value = Buffer.from(JSON.stringify({ type: 'C', order_id: '1' }));
    const headers: Record<string, string> = {
      'x-source-system': 'legacy-erp',
      'x-key-id': 'k1',
      'x-signature': signErp(value, KEY),
    };
    for (let h = 0; h < HEADERS; h++) headers[`h${h}`] = 'xxxxxxxx';
    for (let i = 0; i < HEADER_RECORDS; i++) {
      await producer.send({ topic, acks: -1, messages: [{ key: `${i}`, value, headers }] });
    }
    results.push(
      await measure(
        'headers',
        admin,
        infra.brokers,
        infra.registryUrl,
        mappings,
        topic,
        HEADER_RECORDS,
      ),
    );
  }

  // 2. Avro bombs: a writer schema the producer registered.
  for (const [name, count] of [
    ['avro-bomb-5m', 5_000_000],
    ['avro-bomb-50m', 50_000_000],
  ] as const) {
    if (!CASES.includes(name)) continue;
    const topic = `bench.hostile.${name}.${run}`;
    await ensureTopics(admin, [{ topic, numPartitions: 1 }]);
    // Without a reader schema, records decode as their writer wrote them (resolution to a
    // reader would only skip the extra field, which avsc does cheaply).
    const mappings = await folder('wms-stock.yaml', [
      ['  schema: ../schemas/upstream/wms/stock-adjustment.avsc\n', ''],
      ['topics: [wms.stock-adjustments]', `topics: [${topic}]`],
      ['topic: fulfillment.stock-adjusted.v1', `topic: bench.hostile.adjusted.${run}`],
    ]);
    // The WMS schema with one more field first (schema evolution lets a producer add one).
    const adjustment = JSON.parse(
      await readFile(join(root, 'schemas/upstream/wms/stock-adjustment.avsc'), 'utf8'),
    ) as { fields: unknown[] };
    const plain = avro.Type.forSchema(adjustment as avro.Schema);
    const bomb = avro.Type.forSchema({
      ...adjustment,
      fields: [{ name: 'junk', type: { type: 'array', items: 'null' } }, ...adjustment.fields],
    } as avro.Schema);
    const id = await new ConfluentRegistryPort({ url: infra.registryUrl }).register(
      `${topic}-value`,
      bomb,
    );
    const body = Buffer.concat([
      avroLong(count),
      Buffer.from([0]),
      plain.toBuffer({
        adjustment_id: 'a-1',
        sku: 'SKU-1',
        warehouse_id: 'WH-1',
        delta_qty: 1,
        reason_code: 'RCV',
        occurred_at: 1_700_000_000_000,
        lot: null,
      }),
    ]);
    const value = Buffer.alloc(5 + body.length);
    value.writeInt32BE(id, 1);
    body.copy(value, 5);
    const message: Message = { key: 'bomb', value, headers: { 'x-source-system': 'wms' } };
    await producer.send({ topic, acks: -1, messages: [message] });
    results.push(await measure(name, admin, infra.brokers, infra.registryUrl, mappings, topic, 1));
  }
  await producer.disconnect();

  for (const r of results) {
    console.log(
      `${r.case.padEnd(14)} ${String(r.records).padStart(2)} record(s): longest stall ${r.maxStallMs} ms, CPU ${r.cpuMs} ms, wall ${r.wallMs} ms`,
    );
  }
  console.log(JSON.stringify({ run, results }));
} finally {
  await admin.disconnect();
}
