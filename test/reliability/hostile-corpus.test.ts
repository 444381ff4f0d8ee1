import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import fc from 'fast-check';
import avro from 'avsc';
import type { Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../src/adapters/registry/port.js';
import { loadRunConfig } from '../../src/app/config.js';
import { signErp } from '../../src/app/demo.js';
import { createLogger } from '../../src/app/logger.js';
import { Runtime } from '../../src/app/runtime/bootstrap.js';
import { projectRoot } from '../../src/infra/paths.js';
import { waitFor } from '../../src/infra/wait.js';
import {
  consumeUntil,
  createTopics,
  infra,
  testConsumer,
  testKafka,
  uniqueName,
} from '../support/kafka.js';
import { avroLong, avroString } from '../support/avro.js';
import { folderWith } from '../support/mappings.js';
import { committedTotal, header } from '../support/runtime.js';

/**
 * A hostile corpus of 10,000+ records in 18 classes, generated with fast-check (fixed seed),
 * through `membrane run` on the real broker and registry: every record must be quarantined
 * with the code its class calls for, nothing may reach an output, membrane must stay up,
 * responsive (its longest event-loop stall and slowest /healthz answer stay under the session
 * timeout) and its memory bounded, and nothing may reach `Object.prototype`.
 */
const KEY = 'hostile-key';
const PER_CLASS = 1000;
/** membrane's default session timeout (MEMBRANE_SESSION_TIMEOUT_MS). */
const SESSION_TIMEOUT_MS = 15_000;
const root = projectRoot();

interface Hostile {
  readonly topic: 'orders' | 'stock';
  readonly message: Message;
  /** The expected code of the first issue, or a pattern for classes with several. */
  readonly expect: string | RegExp;
  readonly kind: string;
}

const signed = (
  value: Buffer,
  headers: Record<string, string | Buffer> = {},
): Message['headers'] => ({
  'x-source-system': 'legacy-erp',
  'x-key-id': 'k1',
  'x-signature': signErp(value, KEY),
  ...headers,
});

describe('a hostile input corpus', () => {
  const kafka = testKafka();
  const admin = kafka.admin();
  const orders = uniqueName('hostile.orders');
  const stock = uniqueName('hostile.stock');
  const quarantine = uniqueName('hostile.quarantine');
  const outputs = [
    uniqueName('hostile.placed'),
    uniqueName('hostile.cancelled'),
    uniqueName('hostile.adjusted'),
  ];
  let drop: () => Promise<void>;
  let mappings: string;

  beforeAll(async () => {
    await admin.connect();
    drop = await createTopics(admin, [
      { topic: orders, numPartitions: 3 },
      { topic: stock, numPartitions: 3 },
    ]);
    mappings = await folderWith({});
    const schemas = `${join(root, 'schemas')}/`;
    const erp = (await readFile(join(root, 'mappings/legacy-orders.yaml'), 'utf8'))
      .replace('topics: [erp.orders]', `topics: [${orders}]`)
      .replace('topic: sales.order-placed.v1', `topic: ${outputs[0] ?? ''}`)
      .replace('topic: sales.order-cancelled.v1', `topic: ${outputs[1] ?? ''}`)
      .replaceAll('../schemas/', schemas);
    const wms = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replace('topics: [wms.stock-adjustments]', `topics: [${stock}]`)
      .replace('topic: fulfillment.stock-adjusted.v1', `topic: ${outputs[2] ?? ''}`)
      .replaceAll('../schemas/', schemas);
    await writeFile(join(mappings, 'legacy-orders.yaml'), erp);
    await writeFile(join(mappings, 'wms-stock.yaml'), wms);
  });

  afterAll(async () => {
    await drop();
    await admin.deleteTopics({ topics: [...outputs, quarantine] }).catch(() => undefined);
    await admin.disconnect();
  });

  async function corpus(): Promise<Hostile[]> {
    const writer = avro.Type.forSchema(
      JSON.parse(
        await readFile(join(root, 'schemas/upstream/wms/stock-adjustment.avsc'), 'utf8'),
      ) as avro.Schema,
    );
    const registry = new ConfluentRegistryPort({ url: infra().registryUrl });
    const schemaId = await registry.register(`${stock}-value`, writer);
    // Writer schemas a hostile producer registers: the WMS schema (so they resolve to the
    // mapping's reader schema) with one more field first, which the reader skips.
    const base = JSON.parse(
      await readFile(join(root, 'schemas/upstream/wms/stock-adjustment.avsc'), 'utf8'),
    ) as { fields: unknown[] };
    const hostileWriter = async (subject: string, extra: unknown): Promise<number> =>
      registry.register(
        `${stock}-${subject}-value`,
        avro.Type.forSchema({ ...base, fields: [extra, ...base.fields] } as avro.Schema),
      );
    const writers = {
      nulls: await hostileWriter('nulls', { name: 'junk', type: { type: 'array', items: 'null' } }),
      ints: await hostileWriter('ints', { name: 'junk', type: { type: 'array', items: 'int' } }),
      map: await hostileWriter('map', { name: 'attrs', type: { type: 'map', values: 'string' } }),
      chain: await hostileWriter('chain', {
        name: 'chain',
        type: [
          'null',
          {
            type: 'record',
            name: 'Link',
            fields: [{ name: 'next', type: ['null', 'Link'] }],
          },
        ],
      }),
    };
    const adjustment = fc.record({
      adjustment_id: fc.uuid(),
      sku: fc.string({ minLength: 1, maxLength: 12 }),
      warehouse_id: fc.constant('WH-1'),
      delta_qty: fc.integer({ min: 1, max: 100 }),
      reason_code: fc.constant('RCV'),
      occurred_at: fc.integer({ min: 0, max: 2_000_000_000_000 }),
      lot: fc.constant(null),
    });
    const framed = (id: number, body: Buffer, magic = 0): Buffer => {
      const bytes = Buffer.alloc(5 + body.length);
      bytes[0] = magic;
      bytes.writeInt32BE(id, 1);
      body.copy(bytes, 5);
      return bytes;
    };
    const wmsHeaders = { 'x-source-system': 'wms' };
    const sample = <T>(arb: fc.Arbitrary<T>, seed: number, n = PER_CLASS): T[] =>
      fc.sample(arb, { seed, numRuns: n });
    const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
    const plainObject = fc.object({
      key: fc.string().filter((k) => !['__proto__', 'constructor', 'prototype'].includes(k)),
    });
    const classes: Hostile[][] = [
      // 1. random bytes (never valid UTF-8: they start with 0xff)
      sample(fc.uint8Array({ maxLength: 300 }), 1).map((bytes) => {
        const value = Buffer.concat([Buffer.from([0xff]), Buffer.from(bytes)]);
        return {
          topic: 'orders',
          kind: 'random bytes',
          message: { value, headers: signed(value) },
          expect: 'decode.invalid-utf8',
        };
      }),
      // 2. wrong magic byte
      sample(fc.tuple(fc.integer({ min: 1, max: 255 }), adjustment), 2).map(([magic, a]) => ({
        topic: 'stock',
        kind: 'wrong magic byte',
        message: { value: framed(schemaId, writer.toBuffer(a), magic), headers: wmsHeaders },
        expect: 'decode.wrong-magic-byte',
      })),
      // 3. unknown schema ID
      sample(fc.tuple(fc.integer({ min: 1_000_000, max: 2_000_000_000 }), adjustment), 3).map(
        ([id, a]) => ({
          topic: 'stock',
          kind: 'unknown schema ID',
          message: { value: framed(id, writer.toBuffer(a)), headers: wmsHeaders },
          expect: 'decode.unknown-schema',
        }),
      ),
      // 4. truncated Avro
      sample(fc.tuple(adjustment, fc.double({ min: 0, max: 0.99, noNaN: true })), 4).map(
        ([a, cut]) => {
          const full = framed(schemaId, writer.toBuffer(a));
          return {
            topic: 'stock',
            kind: 'truncated Avro',
            message: {
              value: full.subarray(0, 5 + Math.floor((full.length - 5) * cut)),
              headers: wmsHeaders,
            },
            expect: 'decode.truncated',
          };
        },
      ),
      // 5. invalid UTF-8 inside JSON
      sample(fc.string({ maxLength: 40 }), 5).map((text) => {
        const value = Buffer.concat([
          Buffer.from(`{"order_id":"${text.replace(/["\\]/g, '')}","x":"`),
          Buffer.from([0xc3, 0x28]),
          Buffer.from('"}'),
        ]);
        return {
          topic: 'orders',
          kind: 'invalid UTF-8',
          message: { value, headers: signed(value) },
          expect: 'decode.invalid-utf8',
        };
      }),
      // 6. JSON nested 10,000 deep
      sample(fc.integer({ min: 10_000, max: 10_050 }), 6, 40).map((depth) => {
        const value = Buffer.from(`{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`);
        return {
          topic: 'orders',
          kind: 'nested 10,000 deep',
          message: { value, headers: signed(value) },
          expect: 'decode.too-deep',
        };
      }),
      // 7. records at the broker's maximum message size: up to the largest value a batch of
      // one record with these headers can carry under the default max.message.bytes
      // (1,048,588 bytes, less the batch and record framing and the headers).
      sample(fc.integer({ min: 1_000_000, max: 1_048_280 }), 7, 8).map((size) => {
        const value = json({ blob: 'x'.repeat(size) });
        return {
          topic: 'orders',
          kind: 'maximum size',
          message: { value, headers: signed(value) },
          expect: 'upcast.unknown-version', // no shape version: upcast refuses it before routing
        };
      }),
      // 8. prototype keys
      sample(
        fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue()),
        8,
      ).map(([key, inner]) => {
        const value = Buffer.from(`{"type":"C","customer":{"${key}":${JSON.stringify(inner)}}}`);
        return {
          topic: 'orders',
          kind: 'prototype keys',
          message: { value, headers: signed(value) },
          expect: 'decode.forbidden-key',
        };
      }),
      // 9. null values (tombstones) and empty values
      sample(fc.boolean(), 9).map((tombstone) => {
        const value = tombstone ? null : Buffer.alloc(0);
        return {
          topic: 'orders',
          kind: 'null and empty values',
          message: { value, headers: signed(Buffer.alloc(0)) },
          expect: 'decode.empty-value',
        };
      }),
      // 10. missing, forged and replayed-old-key signatures
      sample(
        fc.tuple(fc.constantFrom('missing', 'forged', 'old-key'), fc.string({ maxLength: 30 })),
        10,
      ).map(([how, text]) => {
        const value = json({ type: 'C', order_id: text });
        const headers: Record<string, string | Buffer> =
          how === 'missing'
            ? { 'x-source-system': 'legacy-erp', 'x-key-id': 'k1' }
            : how === 'forged'
              ? {
                  'x-source-system': 'legacy-erp',
                  'x-key-id': 'k1',
                  'x-signature': signErp(value, 'stolen'),
                }
              : {
                  'x-source-system': 'legacy-erp',
                  'x-key-id': 'k0-retired',
                  'x-signature': signErp(value, 'k0'),
                };
        const expected = {
          missing: 'trust.signature-missing',
          forged: 'trust.signature-invalid',
          'old-key': 'trust.unknown-key',
        }[how];
        return {
          topic: 'orders',
          kind: 'signatures',
          message: { value, headers },
          expect: expected,
        };
      }),
      // 11. headers with binary garbage
      sample(fc.uint8Array({ minLength: 1, maxLength: 64 }), 11).map((garbage) => {
        const value = json({ type: 'C' });
        return {
          topic: 'orders',
          kind: 'binary headers',
          message: {
            value,
            headers: {
              ...signed(value),
              'x-source-system': Buffer.concat([Buffer.from([0xfe]), Buffer.from(garbage)]),
            },
          },
          expect: 'trust.source-not-allowed',
        };
      }),
      // 12. wrong types in every field (objects without prototype keys: those are class 8)
      sample(
        fc.record({
          customer_no: fc.oneof(fc.integer(), fc.boolean(), plainObject),
          total_amount: fc.oneof(fc.boolean(), plainObject, fc.array(fc.integer())),
          currency_code: fc.oneof(fc.integer(), fc.array(fc.string())),
          created: fc.oneof(fc.integer(), fc.boolean()),
          status: fc.oneof(fc.integer(), fc.boolean(), plainObject),
          line_items: fc.oneof(fc.string(), fc.integer(), plainObject),
        }),
        12,
      ).map((wrong, i) => {
        const value = json({
          event_id: `bad-${i}`,
          type: 'C',
          schema_version: 2,
          order_id: `o-${i}`,
          ...wrong,
        });
        return {
          topic: 'orders',
          kind: 'wrong types',
          message: { key: `o-${i}`, value, headers: signed(value) },
          expect: /^map\./,
        };
      }),
      // 13. header floods: 10,000 headers (~150 KB), validly signed
      sample(fc.integer({ min: 10_000, max: 12_000 }), 13, 20).map((count) => {
        const value = json({ type: 'C' });
        const headers: Record<string, string | Buffer> = {};
        for (let h = 0; h < count; h++) headers[`h${h}`] = 'xxxxxxxx';
        return {
          topic: 'orders',
          kind: 'header floods',
          message: { value, headers: signed(value, headers) },
          expect: 'trust.too-many-headers',
        };
      }),
      // 14. few headers, but more header bytes than allowed (4 × 80 KB)
      sample(fc.integer({ min: 70_000, max: 90_000 }), 14, 20).map((size) => {
        const value = json({ type: 'C' });
        const headers: Record<string, string | Buffer> = {};
        for (let h = 0; h < 4; h++) headers[`big${h}`] = Buffer.alloc(size, 0x61);
        return {
          topic: 'orders',
          kind: 'header bytes',
          message: { value, headers: signed(value, headers) },
          expect: 'trust.headers-too-large',
        };
      }),
      // 15. prototype keys in escape spellings, anywhere in the object
      sample(
        fc.tuple(
          fc.constantFrom(
            '\\u005f_proto__',
            '__\\u0070roto__',
            '\\u005F\\u005Fproto\\u005F\\u005F',
            '\\u0063onstructor',
            'prot\\u006ftype',
          ),
          fc.boolean(),
          fc.jsonValue({ maxDepth: 2 }),
        ),
        15,
      ).map(([key, nested, inner]) => {
        const member = `"${key}":${JSON.stringify(inner)}`;
        const value = Buffer.from(
          nested ? `{"type":"C","customer":{"name":"x",${member}}}` : `{${member},"type":"C"}`,
        );
        return {
          topic: 'orders',
          kind: 'escaped prototype keys',
          message: { value, headers: signed(value) },
          expect: 'decode.forbidden-key',
        };
      }),
      // 16. Avro bombs: a block count of millions in a few bytes, of zero-size items (refused
      // with the writer schema) or of ints (more items than bytes left)
      sample(
        fc.tuple(fc.boolean(), fc.integer({ min: 1_000_000, max: 50_000_000 }), adjustment),
        16,
        50,
      ).map(([zeroSize, count, a]) => ({
        topic: 'stock',
        kind: 'Avro bombs',
        message: {
          value: framed(
            zeroSize ? writers.nulls : writers.ints,
            Buffer.concat([avroLong(count), Buffer.from([0]), writer.toBuffer(a)]),
          ),
          headers: wmsHeaders,
        },
        expect: zeroSize ? 'decode.zero-size-items' : 'decode.block-count',
      })),
      // 17. Avro map keys that are prototype keys
      sample(
        fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), adjustment),
        17,
        50,
      ).map(([key, a]) => ({
        topic: 'stock',
        kind: 'Avro prototype keys',
        message: {
          value: framed(
            writers.map,
            Buffer.concat([
              avroLong(2),
              avroString('unit'),
              avroString('kg'),
              avroString(key),
              avroString('{"polluted":"yes"}'),
              Buffer.from([0]),
              writer.toBuffer(a),
            ]),
          ),
          headers: wmsHeaders,
        },
        expect: 'decode.forbidden-key',
      })),
      // 18. Avro nested deeper than allowed through a recursive schema
      sample(fc.tuple(fc.integer({ min: 65, max: 5_000 }), adjustment), 18, 50).map(
        ([depth, a]) => ({
          topic: 'stock',
          kind: 'Avro nested deep',
          message: {
            value: framed(
              writers.chain,
              // `chain` = Link (union index 1), each `next` another Link, the last null.
              Buffer.concat([Buffer.alloc(depth, 0x02), Buffer.from([0]), writer.toBuffer(a)]),
            ),
            headers: wmsHeaders,
          },
          expect: 'decode.too-deep',
        }),
      ),
    ];
    return classes.flat();
  }

  it('quarantines every record with its specific code, emits nothing, and stays up with bounded memory', async ({
    task,
  }) => {
    const started = Date.now();
    const records = await corpus();
    expect(records.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(records.map((r) => r.kind)).size).toBe(18);
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();

    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    // Sent in order, one partition a topic, so each record's offset is known.
    const expected = new Map<string, Hostile>();
    const next = { orders: 0, stock: 0 };
    for (const record of records) {
      const topic = record.topic === 'orders' ? orders : stock;
      expected.set(`${topic}/0/${next[record.topic]}`, record);
      next[record.topic] += 1;
    }
    for (const topicKind of ['orders', 'stock'] as const) {
      // Requests of at most ~900 KB: the largest records go one by one.
      let batch: Message[] = [];
      let bytes = 0;
      const flush = async (): Promise<void> => {
        if (batch.length === 0) return;
        await producer.send({
          topic: topicKind === 'orders' ? orders : stock,
          acks: -1,
          messages: batch,
        });
        batch = [];
        bytes = 0;
      };
      for (const r of records.filter((x) => x.topic === topicKind)) {
        let size = r.message.value?.length ?? 0;
        for (const [name, v] of Object.entries(r.message.headers ?? {}))
          size += name.length + (typeof v === 'string' || Buffer.isBuffer(v) ? v.length : 0) + 4;
        if (bytes + size > 900_000 || batch.length >= 500) await flush();
        batch.push({ ...r.message, partition: 0 });
        bytes += size;
      }
      await flush();
    }
    await producer.disconnect();

    const group = uniqueName('hostile');
    const runtime = new Runtime({
      config: loadRunConfig({
        KAFKA_BROKERS: infra().brokers.join(','),
        SCHEMA_REGISTRY_URL: infra().registryUrl,
        MEMBRANE_GROUP_ID: group,
        MEMBRANE_MAPPINGS: mappings,
        MEMBRANE_QUARANTINE_TOPIC: quarantine,
        MEMBRANE_HTTP_PORT: '0',
        LOG_LEVEL: 'silent',
      }),
      logger: createLogger('silent'),
      env: { ...process.env, ERP_HMAC_KEY_1: KEY, ERP_HMAC_KEY_2: 'unused' },
    });
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    // membrane runs in this process: its event loop is this one.
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    stalls.enable();
    await runtime.start();
    // /healthz asked every 100 ms, each answer timed from the request (one at a time).
    let slowestHealthMs = 0;
    const probing = { on: true };
    const probe = (async () => {
      while (probing.on) {
        const asked = performance.now();
        const answer = await fetch(`http://127.0.0.1:${String(runtime.httpPort)}/healthz`);
        await answer.arrayBuffer();
        expect(answer.status).toBe(200);
        slowestHealthMs = Math.max(slowestHealthMs, performance.now() - asked);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      const group = (runtime as unknown as { config: { MEMBRANE_GROUP_ID: string } }).config
        .MEMBRANE_GROUP_ID;
      const done = await waitFor(
        async () => {
          const total =
            (await committedTotal(admin, group, orders)) +
            (await committedTotal(admin, group, stock));
          if (total < records.length) throw new Error(`${total} of ${records.length}`);
        },
        { timeoutMs: 120_000, intervalMs: 200 },
      );
      expect(done.ok).toBe(true);
      expect(runtime.ready).toBe(true);
    } finally {
      probing.on = false;
      await probe;
      stalls.disable();
      await runtime.stop();
      clearInterval(sampler);
    }
    const longestStallMs = stalls.max / 1e6;

    const quarantined = await consumeUntil(
      testConsumer(kafka),
      [quarantine],
      (r) => r.length >= records.length,
      120_000,
    );
    expect(quarantined).toHaveLength(records.length);
    const wrong: string[] = [];
    for (const r of quarantined) {
      const at = `${header(r, 'membrane.source.topic') ?? ''}/${header(r, 'membrane.source.partition') ?? ''}/${header(r, 'membrane.source.offset') ?? ''}`;
      const record = expected.get(at);
      const code = header(r, 'membrane.quarantine.code') ?? '';
      const ok =
        record !== undefined &&
        (typeof record.expect === 'string' ? code === record.expect : record.expect.test(code));
      if (!ok)
        wrong.push(
          `${record?.kind ?? 'unknown'} at ${at}: ${code}, expected ${String(record?.expect)}`,
        );
      expected.delete(at);
    }
    let emitted = 0;
    for (const topic of outputs) {
      const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
      emitted += offsets.reduce((sum, p) => sum + Number(p.high), 0);
    }
    const byCode: Record<string, number> = {};
    for (const r of quarantined) {
      const code = header(r, 'membrane.quarantine.code') ?? '?';
      byCode[code] = (byCode[code] ?? 0) + 1;
    }
    task.meta.reliability = {
      scenario: `hostile corpus (18 classes; longest event-loop stall ${Math.round(longestStallMs)} ms, slowest /healthz ${Math.round(slowestHealthMs)} ms)`,
      in: records.length,
      out: emitted,
      quarantined: byCode,
      dropped: 0,
      lost: expected.size,
      duplicated: quarantined.length - records.length + expected.size,
      misplaced: wrong,
      recovery: [],
      seconds: (Date.now() - started) / 1000,
    };
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(expected.size).toBe(0);
    expect(emitted).toBe(0);
    // The corpus carries 8 records of ~1 MB and 40 nested 10,000 deep: memory stays bounded.
    expect(peakRss / 1024 / 1024).toBeLessThan(1500);
    // Responsive throughout: no stall reached the session timeout (15 s), after which the
    // broker would have moved the partitions to another member — which would stall the same way.
    expect(longestStallMs).toBeLessThan(SESSION_TIMEOUT_MS);
    expect(slowestHealthMs).toBeLessThan(SESSION_TIMEOUT_MS);
    // Nothing upstream reached Object.prototype.
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
