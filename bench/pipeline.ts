/**
 * npm run bench:pipeline — records per second through the whole in-process pipeline for the
 * example mappings, next to the codec floor: decoding the same input bytes and encoding the
 * same output records with the same codecs (JSON, avsc) and nothing else.
 * Warm-up, then ROUNDS rounds; the median is reported. Last line: one JSON object.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro, { type Type } from 'avsc';
import { signErp } from '../src/app/demo.js';
import { deterministicId, mappingNamespace, namespaceBytes } from '../src/core/ids.js';
import type { SourceRecord } from '../src/core/records.js';
import { projectRoot } from '../src/infra/paths.js';
import { compileMapping } from '../src/mapping/compile.js';
import { loadMappingFile } from '../src/mapping/load.js';
import type { Pipeline } from '../src/pipeline/pipeline.js';
import { InMemoryClocks, InMemorySchemaRegistry } from '../src/pipeline/ports.js';

const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 20_000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);
const root = projectRoot();
const env = { ERP_HMAC_KEY_1: 'bench-key-1', ERP_HMAC_KEY_2: 'bench-key-2' };

async function schema(path: string): Promise<Type> {
  return avro.Type.forSchema(JSON.parse(await readFile(join(root, path), 'utf8')) as avro.Schema);
}

function wire(id: number, body: Buffer): Buffer {
  const bytes = Buffer.allocUnsafe(5 + body.length);
  bytes[0] = 0;
  bytes.writeInt32BE(id, 1);
  body.copy(bytes, 5);
  return bytes;
}

interface Case {
  readonly name: string;
  readonly pipeline: Pipeline;
  readonly records: readonly SourceRecord[];
  /** Decode one input value and encode one output payload with the same codecs. */
  readonly floor: (input: Buffer, output: Record<string, unknown>) => Buffer;
}

async function ordersCase(): Promise<Case> {
  const registry = new InMemorySchemaRegistry();
  const pipeline = await compileMapping(
    await loadMappingFile(join(root, 'mappings/legacy-orders.yaml'), env),
    {
      registry,
      clocks: new InMemoryClocks(),
    },
  );
  const placed = await schema('schemas/sales/order-placed.avsc');
  const placedId = await registry.register('sales.order-placed.v1-value', placed);
  const records: SourceRecord[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const lines = 1 + (i % 4);
    const value = Buffer.from(
      JSON.stringify({
        event_id: `erp-${i}`,
        type: 'C',
        schema_version: 2,
        order_id: `${100000 + (i % 5000)}`,
        customer_no: `K-${i % 997}`,
        total_amount: `${lines * 19}.90`,
        currency_code: 'EUR',
        created: '21.11.2026 14:05',
        status: i % 2 === 0 ? 'N' : 'P',
        line_items: Array.from({ length: lines }, (_, l) => ({
          sku: `SKU-${l}`,
          qty: '1',
          unit_price: '19.90',
          weight_g: 250 * (l + 1),
        })),
      }),
    );
    const signature = signErp(value, env.ERP_HMAC_KEY_1);
    records.push({
      topic: 'erp.orders',
      partition: i % 6,
      offset: String(i),
      timestamp: '1763800000000',
      key: Buffer.from(`${100000 + (i % 5000)}`),
      value,
      headers: { 'x-source-system': 'legacy-erp', 'x-key-id': 'k1', 'x-signature': signature },
    });
  }
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  return {
    name: 'legacy-orders (JSON + HMAC → Avro)',
    pipeline,
    records,
    floor: (input, output) => {
      JSON.parse(utf8.decode(input));
      return wire(placedId, placed.toBuffer(output));
    },
  };
}

async function stockCase(): Promise<Case> {
  const registry = new InMemorySchemaRegistry();
  const pipeline = await compileMapping(
    await loadMappingFile(join(root, 'mappings/wms-stock.yaml'), env),
    {
      registry,
      clocks: new InMemoryClocks(),
    },
  );
  const writer = await schema('schemas/upstream/wms/stock-adjustment.avsc');
  const writerId = await registry.register('wms.stock-adjustments-value', writer);
  const target = await schema('schemas/fulfillment/stock-adjusted.avsc');
  const targetId = await registry.register('fulfillment.stock-adjusted.v1-value', target);
  const reasons = ['DMG', 'CNT', 'RCV', 'RTN'];
  const records: SourceRecord[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const value = wire(
      writerId,
      writer.toBuffer({
        adjustment_id: `adj-${i}`,
        sku: `SKU-${i % 2000}`,
        warehouse_id: `WH-${i % 7}`,
        delta_qty: (i % 9) + 1,
        reason_code: reasons[i % 4],
        occurred_at: 1782900000000 + i,
        lot: i % 3 === 0 ? `L-${i}` : null,
      }),
    );
    records.push({
      topic: 'wms.stock-adjustments',
      partition: i % 6,
      offset: String(i),
      timestamp: '1763800000000',
      key: Buffer.from(`SKU-${i % 2000}`),
      value,
      headers: { 'x-source-system': 'wms' },
    });
  }
  return {
    name: 'wms-stock (Avro → Avro)',
    pipeline,
    records,
    floor: (input, output) => {
      writer.decode(input, 5);
      return wire(targetId, target.toBuffer(output));
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function run(
  c: Case,
): Promise<{ name: string; membrane_rps: number; floor_rps: number; ratio: number }> {
  // The floor encodes exactly what membrane produced.
  const payloads: Record<string, unknown>[] = [];
  for (const record of c.records) {
    const result = await c.pipeline.process(record);
    if (result.kind !== 'pass')
      throw new Error(`${c.name}: benchmark input was not translated: ${JSON.stringify(result)}`);
    payloads.push(result.outputs[0]?.payload ?? {});
  }
  const membrane: number[] = [];
  const floor: number[] = [];
  let sink = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    let start = process.hrtime.bigint();
    for (const record of c.records) {
      const result = await c.pipeline.process(record);
      if (result.kind === 'pass') sink += result.outputs[0]?.value.length ?? 0;
    }
    const membraneSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    start = process.hrtime.bigint();
    for (let i = 0; i < c.records.length; i++) {
      sink += c.floor(c.records[i]?.value ?? Buffer.alloc(0), payloads[i] ?? {}).length;
    }
    const floorSeconds = Number(process.hrtime.bigint() - start) / 1e9;
    if (round > 0) {
      // round 0 warms up
      membrane.push(c.records.length / membraneSeconds);
      floor.push(c.records.length / floorSeconds);
    }
  }
  if (sink === 0) throw new Error('nothing was encoded');
  const m = median(membrane);
  const f = median(floor);
  return {
    name: c.name,
    membrane_rps: Math.round(m),
    floor_rps: Math.round(f),
    ratio: Number((m / f).toFixed(3)),
  };
}

/** Per-record work membrane promises and cannot skip: the ID hash and the signature check. */
function fixedCosts(records: readonly SourceRecord[]): { uuidV5Us: number; hmacUs: number } {
  const ns = namespaceBytes(mappingNamespace('bench'));
  const time = (fn: (r: SourceRecord, i: number) => unknown): number => {
    const start = process.hrtime.bigint();
    records.forEach(fn);
    return Number(process.hrtime.bigint() - start) / 1e3 / records.length;
  };
  const uuid = (r: SourceRecord, i: number): unknown =>
    deterministicId(ns, `erp/event/${r.offset}`, i % 2);
  const hmac = (r: SourceRecord): unknown => signErp(r.value ?? Buffer.alloc(0), 'k');
  time(uuid);
  time(hmac);
  return { uuidV5Us: Number(time(uuid).toFixed(2)), hmacUs: Number(time(hmac).toFixed(2)) };
}

const cases = [await ordersCase(), await stockCase()];
const results = [];
console.log(`${RECORDS} records per round, median of ${ROUNDS} rounds after a warm-up, one core`);
console.log(
  `${'case'.padEnd(38)} ${'membrane rec/s'.padStart(15)} ${'codec floor rec/s'.padStart(18)} ${'ratio'.padStart(7)}`,
);
for (const c of cases) {
  const r = await run(c);
  results.push(r);
  console.log(
    `${r.name.padEnd(38)} ${r.membrane_rps.toLocaleString('en').padStart(15)} ${r.floor_rps.toLocaleString('en').padStart(18)} ${r.ratio.toFixed(2).padStart(7)}`,
  );
}
const fixed = fixedCosts(cases[0]?.records ?? []);
console.log(
  `fixed per-record costs (in membrane, not in the floor): UUIDv5 ${fixed.uuidV5Us} µs, HMAC-SHA256 of an order ${fixed.hmacUs} µs`,
);
console.log(JSON.stringify({ bench: 'pipeline', cases: results }));
