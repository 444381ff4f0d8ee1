import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signErp } from '../../src/app/demo.js';
import { projectRoot } from '../../src/infra/paths.js';
import { folderWith } from './mappings.js';
import type { Admin, Kafka, Message } from 'kafkajs';
import { afterAll, beforeAll, expect } from 'vitest';
import { account, readTopic, type Accounting, type Fate } from './conservation.js';
import {
  consumeUntil,
  createTopics,
  infra,
  testConsumer,
  testKafka,
  uniqueName,
  type Received,
} from './kafka.js';
import { expectClocksCountUp, expectEachSourceOnce, header } from './runtime.js';

export const ORDER_KEYS = { ERP_HMAC_KEY_1: 'it-key-1', ERP_HMAC_KEY_2: 'it-key-2' };

export interface OrderTopics {
  readonly input: string;
  readonly placed: string;
  readonly cancelled: string;
  readonly quarantine: string;
  readonly group: string;
  /** A folder holding the example legacy-orders mapping, rewired to these topics. */
  readonly mappings: string;
}

/** The example legacy-orders mapping on fresh, unique topics. */
export async function orderTopics(): Promise<OrderTopics> {
  const root = projectRoot();
  const input = uniqueName('erp.orders');
  const placed = uniqueName('sales.order-placed');
  const cancelled = uniqueName('sales.order-cancelled');
  const text = (await readFile(join(root, 'mappings/legacy-orders.yaml'), 'utf8'))
    .replaceAll('topics: [erp.orders]', `topics: [${input}]`)
    .replaceAll('topic: sales.order-placed.v1', `topic: ${placed}`)
    .replaceAll('topic: sales.order-cancelled.v1', `topic: ${cancelled}`)
    .replaceAll('../schemas/', `${join(root, 'schemas')}/`);
  const mappings = await folderWith({});
  await writeFile(join(mappings, 'legacy-orders.yaml'), text);
  return {
    input,
    placed,
    cancelled,
    quarantine: uniqueName('quarantine'),
    group: uniqueName('membrane'),
    mappings,
  };
}

export type OrderKind =
  'placed' | 'cancelled' | 'test' | 'bad-signature' | 'not-json' | 'unknown-status';

/** Record `i` of a deterministic mix: mostly good, some of every kind of bad. */
export function orderKind(i: number): OrderKind {
  const kinds: OrderKind[] = [
    'placed',
    'placed',
    'placed',
    'placed',
    'cancelled',
    'test',
    'bad-signature',
    'not-json',
    'placed',
    'unknown-status',
  ];
  return kinds[i % kinds.length] ?? 'placed';
}

export const EXPECTED_CODE: Partial<Record<OrderKind, string>> = {
  'bad-signature': 'trust.signature-invalid',
  'not-json': 'decode.invalid-json',
  'unknown-status': 'map.unknown-code',
};

/** What the order mapping must do with record `i` of the sequence. */
export function orderFate(i: number): Fate {
  const kind = orderKind(i);
  if (kind === 'test') return { fate: 'drop' };
  const code = EXPECTED_CODE[kind];
  return code === undefined ? { fate: 'output' } : { fate: 'quarantine', code };
}

/** The fate of an upstream order record read back from Kafka. */
export function fateOfOrder(input: Received): Fate {
  return orderFate(Number(header(input, 'x-test-seq')));
}

/** Upstream order records; the key is the order ID, so one order stays on one partition. */
export function orderMessages(from: number, count: number, orders = 40): Message[] {
  return Array.from({ length: count }, (_, n) => {
    const i = from + n;
    const kind = orderKind(i);
    const orderId = `o-${i % orders}`;
    const body = {
      event_id: `e-${i}`,
      type: kind === 'cancelled' ? 'X' : kind === 'test' ? 'T' : 'C',
      schema_version: 2,
      order_id: orderId,
      customer_no: `K-${i % 7}`,
      total_amount: '19.90',
      currency_code: 'EUR',
      created: '21.11.2026 14:05',
      status: kind === 'unknown-status' ? 'Q' : 'N',
      line_items: [{ sku: 'SKU-1', qty: '1', unit_price: '19.90' }],
    };
    const value =
      kind === 'not-json'
        ? Buffer.from(`{"order_id": "${orderId}",`)
        : Buffer.from(JSON.stringify(body));
    return {
      key: orderId,
      value,
      headers: {
        // Which record of the sequence this is, so a test can tell each one's fate.
        'x-test-seq': String(i),
        'x-source-system': 'legacy-erp',
        'x-key-id': 'k1',
        'x-signature':
          kind === 'bad-signature'
            ? signErp(value, 'forged')
            : signErp(value, ORDER_KEYS.ERP_HMAC_KEY_1),
      },
    };
  });
}

/**
 * For one test file: the example order mapping on fresh topics (the input with `partitions`),
 * created before its tests and deleted after; and the environment `membrane run` needs.
 */
export function useOrderTopics(partitions: number): {
  readonly kafka: Kafka;
  admin(): Admin;
  topics(): OrderTopics;
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
} {
  const kafka = testKafka();
  let admin: Admin | undefined;
  let topics: OrderTopics | undefined;
  let drop: (() => Promise<void>) | undefined;
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useOrderTopics: used outside a test');
    return value;
  };
  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topics = await orderTopics();
    drop = await createTopics(admin, [{ topic: topics.input, numPartitions: partitions }]);
  });
  afterAll(async () => {
    // SCENARIO_KEEP_TOPICS=1: leave the topics (and the group) to read a failure afterwards.
    if (process.env['SCENARIO_KEEP_TOPICS'] && topics) {
      process.stderr.write(`[topics kept] ${JSON.stringify(topics)}\n`);
      await admin?.disconnect();
      return;
    }
    await drop?.();
    if (topics) {
      await admin
        ?.deleteTopics({
          topics: [
            topics.placed,
            topics.cancelled,
            topics.quarantine,
            `${topics.quarantine}.resolutions`,
          ],
        })
        .catch(() => undefined);
    }
    await admin?.disconnect();
  });
  return {
    kafka,
    admin: () => ready(admin),
    topics: () => ready(topics),
    env: (extra = {}) => {
      const t = ready(topics);
      return {
        ...ORDER_KEYS,
        KAFKA_BROKERS: infra().brokers.join(','),
        SCHEMA_REGISTRY_URL: infra().registryUrl,
        MEMBRANE_GROUP_ID: t.group,
        MEMBRANE_MAPPINGS: t.mappings,
        MEMBRANE_QUARANTINE_TOPIC: t.quarantine,
        MEMBRANE_HTTP_PORT: '0',
        ...extra,
      };
    },
  };
}

/**
 * After `n` orders went through membrane: read_committed readers see exactly the expected
 * outputs and quarantine records, each upstream record once, each ID once, and every
 * order's clock counting 1, 2, 3… in upstream order.
 */
export async function expectOrdersTranslatedOnce(
  kafka: Kafka,
  topics: OrderTopics,
  n: number,
): Promise<void> {
  const kinds = Array.from({ length: n }, (_, i) => orderKind(i));
  const expectOut = kinds.filter((k) => k === 'placed' || k === 'cancelled').length;
  const expectQuarantine = kinds.filter((k) =>
    ['bad-signature', 'not-json', 'unknown-status'].includes(k),
  ).length;
  const outputs = await consumeUntil(
    testConsumer(kafka),
    [topics.placed, topics.cancelled],
    (r) => r.length >= expectOut,
  );
  const quarantined = await consumeUntil(
    testConsumer(kafka),
    [topics.quarantine],
    (r) => r.length >= expectQuarantine,
  );
  expect(outputs).toHaveLength(expectOut);
  expect(quarantined).toHaveLength(expectQuarantine);
  expectEachSourceOnce([...outputs, ...quarantined]);
  const ids = outputs.map((r) => header(r, 'membrane.id'));
  expect(new Set(ids).size).toBe(ids.length);
  expectClocksCountUp(outputs, 'legacy-erp');
}

/**
 * Reads the input, the outputs and the quarantine back (read_committed) and accounts for
 * every upstream order; also checks that each order's clock counted 1, 2, 3… in order.
 */
export async function accountForOrders(kafka: Kafka, topics: OrderTopics): Promise<Accounting> {
  const [inputs, placed, cancelled, quarantined] = await Promise.all(
    [topics.input, topics.placed, topics.cancelled, topics.quarantine].map((topic) =>
      readTopic(kafka, topic),
    ),
  );
  const outputs = [...(placed ?? []), ...(cancelled ?? [])];
  expectClocksCountUp(outputs, 'legacy-erp');
  return account(inputs ?? [], outputs, quarantined ?? [], fateOfOrder);
}
