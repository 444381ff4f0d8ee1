import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import type { Admin, Message } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchemaRegistry } from '../../src/adapters/registry/client.js';
import { projectRoot } from '../../src/infra/paths.js';
import { account, expectConserved, readTopic, type Fate } from '../support/conservation.js';
import { createTopics, infra, testKafka, uniqueName, type Received } from '../support/kafka.js';
import { startLoad } from '../support/load.js';
import { folderWith } from '../support/mappings.js';
import { startMembrane } from '../support/membrane-process.js';
import { cuttableProxy, type CuttableProxy } from '../support/proxy.js';
import { header } from '../support/runtime.js';
import { catchUpAndStop, committedOf, secondsUntilProgress, until } from '../support/scenario.js';

/** How long the registry stays away: the fault itself, not a wait for anything. */
const OUTAGE_MS = 30_000;

/** Adjustment `i`: mostly good, every tenth dropped (zero delta), every tenth refused. */
function fateOf(i: number): Fate {
  if (i % 10 === 3) return { fate: 'drop' };
  if (i % 10 === 7) return { fate: 'quarantine', code: 'map.unknown-code' };
  return { fate: 'output' };
}

describe('the schema registry stopped for 30 s under load', () => {
  const kafka = testKafka();
  const root = projectRoot();
  const input = uniqueName('wms.stock');
  const output = uniqueName('fulfillment.stock');
  const quarantine = uniqueName('quarantine');
  const group = uniqueName('membrane');
  let admin: Admin;
  let drop: () => Promise<void>;
  let proxy: CuttableProxy;
  let mappings: string;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic: input, numPartitions: 3 }]);
    const registry = new URL(infra().registryUrl);
    proxy = await cuttableProxy(registry.hostname, Number(registry.port));
    const text = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replaceAll('topics: [wms.stock-adjustments]', `topics: [${input}]`)
      .replaceAll('topic: fulfillment.stock-adjusted.v1', `topic: ${output}`)
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`);
    mappings = await folderWith({});
    await writeFile(join(mappings, 'wms-stock.yaml'), text);
  });

  afterAll(async () => {
    await proxy.close();
    await drop();
    await admin.deleteTopics({ topics: [output, quarantine] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('quarantines nothing because of it, loses nothing, and carries on when it is back', async ({
    task,
  }) => {
    const started = Date.now();
    // The WMS talks to the registry directly; membrane through the proxy the test cuts.
    const producerSide = createSchemaRegistry({ url: infra().registryUrl });
    const schema = async (file: string): Promise<number> => {
      const text = await readFile(join(root, 'schemas/upstream/wms', file), 'utf8');
      const { id } = await producerSide.register(
        { type: SchemaType.AVRO, schema: text },
        { subject: `${input}-value` },
      );
      return id;
    };
    let writer = await schema('stock-adjustment-v1.avsc');
    const adjustments = (from: number, count: number): Promise<Message[]> =>
      Promise.all(
        Array.from({ length: count }, async (_, n) => {
          const i = from + n;
          const sku = `SKU-${i % 25}`;
          return {
            key: sku,
            value: await producerSide.encode(writer, {
              adjustment_id: `adj-${i}`,
              sku,
              warehouse_id: 'WH-BER',
              delta_qty: i % 10 === 3 ? 0 : 1 + (i % 5),
              reason_code: i % 10 === 7 ? 'XYZ' : 'RCV',
              occurred_at: 1782900000000 + i,
              lot: null,
            }),
            headers: { 'x-source-system': 'wms', 'x-test-seq': String(i) },
          };
        }),
      );
    const committed = committedOf(() => admin, group, input);
    const load = startLoad(kafka, input, adjustments, { batch: 10, intervalMs: 40 });
    const member = startMembrane({
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: `http://127.0.0.1:${proxy.port}${new URL(infra().registryUrl).pathname}`,
      MEMBRANE_GROUP_ID: group,
      MEMBRANE_MAPPINGS: mappings,
      MEMBRANE_QUARANTINE_TOPIC: quarantine,
      MEMBRANE_HTTP_PORT: '0',
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'error',
    });
    const recovery: number[] = [];
    let stalled = 0;
    try {
      await until('300 committed', async () => (await committed()) >= 300, [member]);
      await proxy.down();
      // Meanwhile the WMS moves to version 2 of its schema, which membrane has not seen:
      // every partition soon holds records membrane cannot read without the registry.
      writer = await schema('stock-adjustment.avsc');
      await delay(OUTAGE_MS);
      const atUp = await committed();
      stalled = load.acknowledged() - atUp;
      await proxy.up();
      process.stderr.write(
        `[registry] back after ${OUTAGE_MS / 1000} s: ${atUp} committed, ${load.acknowledged()} sent\n`,
      );
      recovery.push(await secondsUntilProgress(committed, atUp, [member]));
      const more = load.acknowledged() + 300;
      await until('300 more sent', () => Promise.resolve(load.acknowledged() >= more), [member]);
    } finally {
      await load.stop();
    }
    const total = load.acknowledged();
    await catchUpAndStop(member, committed, total);

    const [inputs, outputs, quarantined] = await Promise.all(
      [input, output, quarantine].map((topic) => readTopic(kafka, topic)),
    );
    const accounting = account(inputs ?? [], outputs ?? [], quarantined ?? [], (r: Received) =>
      fateOf(Number(header(r, 'x-test-seq'))),
    );
    task.meta.reliability = {
      scenario: 'registry stopped for 30 s',
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    // The outage really held membrane up (it was not idle by chance)…
    expect(stalled).toBeGreaterThan(1000);
    // …and not one record was quarantined for it: only the refused adjustments are there.
    expect(Object.keys(accounting.quarantined)).toEqual(['map.unknown-code']);
    expect(accounting.in).toBe(total);
    expectConserved(accounting);
  });
});
