import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import type { Kafka, Message, Producer } from 'kafkajs';
import { ensureTopics } from '../adapters/kafka/topics.js';
import type { RegistryOptions } from '../adapters/registry/client.js';
import { ConfluentRegistryPort } from '../adapters/registry/port.js';
import { hmacSignature } from '../pipeline/stages/trust.js';
import type { Metrics } from './metrics.js';

/**
 * The example upstream systems for `npm run dev`: legacy-erp's signed JSON orders and the
 * WMS's Avro stock adjustments, mostly good, with some bad records of every kind the example
 * mappings catch.
 */
export const DEMO_TOPICS = { orders: 'erp.orders', stock: 'wms.stock-adjustments' } as const;

/** What legacy-erp sends: HMAC-SHA256 over the value and its x-source-system header. */
export function signErp(value: Buffer, key: string): string {
  return hmacSignature(key, value, [{ name: 'x-source-system', value: 'legacy-erp' }]).toString(
    'base64',
  );
}

export function demoOrder(i: number, key: string): Message {
  const kind = i % 20;
  const orderId = `${100000 + (i % 500)}`;
  const body = {
    event_id: `erp-${i}`,
    type: kind === 5 ? 'X' : kind === 6 ? 'T' : kind === 7 ? 'Z' : 'C',
    schema_version: kind === 8 ? 1 : 2,
    order_id: orderId,
    customer_no: `K-${i % 97}`,
    [kind === 8 ? 'amount' : 'total_amount']: kind === 9 ? '0.00' : `${(i % 9) + 1}9.90`,
    currency_code: 'EUR',
    created: kind === 10 ? '2026-11-21T14:05' : '21.11.2026 14:05',
    status: kind === 11 ? 'Q' : 'N',
    line_items: [
      { sku: `SKU-${i % 13}`, qty: kind === 12 ? 'two' : '1', unit_price: '19.90', weight_g: 250 },
    ],
  };
  const value = kind === 13 ? Buffer.from('{"order_id": 1,') : Buffer.from(JSON.stringify(body));
  return {
    key: orderId,
    value,
    headers: {
      'x-source-system': kind === 14 ? 'shop' : 'legacy-erp',
      'x-key-id': 'k1',
      'x-signature': kind === 15 ? signErp(value, 'forged') : signErp(value, key),
    },
  };
}

/**
 * Creates the example topics, registers the WMS schema, and feeds records until stopped. The
 * Kafka client and the registry options come from the connection configuration (TLS, SASL,
 * registry credentials), as every command's.
 */
export async function startDemoFeed(
  kafka: Kafka,
  registry: RegistryOptions,
  orderKey: string,
  root: string,
): Promise<{ stop(): Promise<void> }> {
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [
    { topic: DEMO_TOPICS.orders, numPartitions: 3 },
    { topic: DEMO_TOPICS.stock, numPartitions: 3 },
  ]);
  await admin.disconnect();
  const writer = avro.Type.forSchema(
    JSON.parse(
      await readFile(join(root, 'schemas/upstream/wms/stock-adjustment.avsc'), 'utf8'),
    ) as avro.Schema,
  );
  const schemaId = await new ConfluentRegistryPort(registry).register(
    `${DEMO_TOPICS.stock}-value`,
    writer,
  );
  const reasons = ['DMG', 'CNT', 'RCV', 'RTN', 'XYZ'];
  const adjustment = (i: number): Message => {
    const body = writer.toBuffer({
      adjustment_id: `adj-${i}`,
      sku: `SKU-${i % 13}`,
      warehouse_id: i % 17 === 0 ? 'BER' : 'WH-BER',
      delta_qty: i % 11 === 0 ? 0 : (i % 5) - 2 || 1,
      reason_code: reasons[i % 10 === 9 ? 4 : i % 4] ?? 'CNT',
      occurred_at: 1782900000000 + i * 1000,
      lot: null,
    });
    const value = Buffer.alloc(5 + body.length);
    value[0] = i % 23 === 0 ? 1 : 0;
    value.writeInt32BE(schemaId, 1);
    body.copy(value, 5);
    return { key: `SKU-${i % 13}`, value, headers: { 'x-source-system': 'wms' } };
  };

  // One send at a time (a tick finding the last one still in flight is skipped), and a new
  // producer after a failed one: kafkajs does not reset an idempotent producer's sequence
  // numbers when a send fails, so after a broker that appended a batch died before answering,
  // every later send of the same producer is refused (OutOfOrderSequenceException) for ever.
  const newProducer = (): Producer => kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  let producer = newProducer();
  await producer.connect();
  let i = 0;
  let sending: Promise<void> | undefined;
  const send = async (from: number): Promise<void> => {
    try {
      await producer.sendBatch({
        topicMessages: [
          {
            topic: DEMO_TOPICS.orders,
            messages: Array.from({ length: 10 }, (_, n) => demoOrder(from + n, orderKey)),
          },
          {
            topic: DEMO_TOPICS.stock,
            messages: Array.from({ length: 5 }, (_, n) => adjustment(from + n)),
          },
        ],
      });
    } catch {
      await producer.disconnect().catch(() => undefined);
      producer = newProducer();
      await producer.connect().catch(() => undefined);
    }
  };
  const timer = setInterval(() => {
    if (sending) return;
    const from = i;
    i += 10;
    sending = send(from).finally(() => (sending = undefined));
  }, 500);
  return {
    async stop() {
      clearInterval(timer);
      await sending;
      await producer.disconnect();
    },
  };
}

/** One line: what happened so far, from the runtime's own counters. */
export async function demoSummary(metrics: Metrics): Promise<string> {
  const read = async (name: string, label: string): Promise<Map<string, number>> => {
    const metric = (await metrics.registry.getSingleMetric(name)?.get())?.values ?? [];
    const totals = new Map<string, number>();
    for (const { labels, value } of metric) {
      // Series start at zero (every code, every drop kind): only what happened is shown.
      if (value === 0) continue;
      const key = String(labels[label] ?? '');
      totals.set(key, (totals.get(key) ?? 0) + value);
    }
    return totals;
  };
  const describe = (totals: Map<string, number>): string => {
    const sum = [...totals.values()].reduce((a, b) => a + b, 0);
    const parts = [...totals].sort(([, a], [, b]) => b - a).map(([k, v]) => `${k} ${v}`);
    return `${sum}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
  };
  const [recordsIn, out, quarantined, dropped] = await Promise.all([
    read('membrane_records_in_total', 'mapping'),
    read('membrane_records_out_total', 'topic'),
    read('membrane_records_quarantined_total', 'code'),
    read('membrane_records_dropped_total', 'kind'),
  ]);
  return `in ${describe(recordsIn)} · translated ${describe(out)} · quarantined ${describe(quarantined)} · dropped ${describe(dropped)}`;
}
