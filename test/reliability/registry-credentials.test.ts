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
import { holdPort } from '../support/net.js';
import {
  counterTotal,
  httpStatus,
  registryGate,
  type RegistryGate,
} from '../support/registry-gate.js';
import { header } from '../support/runtime.js';
import { catchUpAndStop, committedOf, secondsUntilProgress, until } from '../support/scenario.js';

/** How long each refusal lasts: the fault itself (401, then 403), not a wait for anything. */
const REFUSE_401_MS = 10_000;
const REFUSE_403_MS = 10_000;
/** /readyz turns 503 once a task has been retrying for this long. */
const STALL_THRESHOLD_MS = 5_000;

/** Adjustment `i`: mostly good, every tenth dropped (zero delta), every tenth refused. */
function fateOf(i: number): Fate {
  if (i % 10 === 3) return { fate: 'drop' };
  if (i % 10 === 7) return { fate: 'quarantine', code: 'map.unknown-code' };
  return { fate: 'output' };
}

interface Probe {
  readonly at: number;
  readonly readyz: number;
  readonly healthz: number;
  readonly running: boolean;
}

describe('the schema registry refusing membrane’s credentials for 20 s (a rotation) under load', () => {
  const kafka = testKafka();
  const root = projectRoot();
  const input = uniqueName('wms.stock');
  const output = uniqueName('fulfillment.stock');
  const quarantine = uniqueName('quarantine');
  const group = uniqueName('membrane');
  let admin: Admin;
  let drop: () => Promise<void>;
  let gate: RegistryGate;
  let mappings: string;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic: input, numPartitions: 3 }]);
    gate = await registryGate(infra().registryUrl);
    const text = (await readFile(join(root, 'mappings/wms-stock.yaml'), 'utf8'))
      .replaceAll('topics: [wms.stock-adjustments]', `topics: [${input}]`)
      .replaceAll('topic: fulfillment.stock-adjusted.v1', `topic: ${output}`)
      .replaceAll('../schemas/', `${join(root, 'schemas')}/`);
    mappings = await folderWith({});
    await writeFile(join(mappings, 'wms-stock.yaml'), text);
  });

  afterAll(async () => {
    await gate.close();
    await drop();
    await admin.deleteTopics({ topics: [output, quarantine] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('stalls (not ready, retrying), quarantines nothing for it, loses nothing, and resumes', async ({
    task,
  }) => {
    const started = Date.now();
    // The WMS talks to the registry directly; membrane through the gate the test closes.
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
    const { port, release } = await holdPort();
    await release();
    const load = startLoad(kafka, input, adjustments, { batch: 10, intervalMs: 40 });
    const member = startMembrane({
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: gate.url,
      MEMBRANE_GROUP_ID: group,
      MEMBRANE_MAPPINGS: mappings,
      MEMBRANE_QUARANTINE_TOPIC: quarantine,
      MEMBRANE_HTTP_PORT: String(port),
      MEMBRANE_COMMIT_MAX_RECORDS: '20',
      MEMBRANE_STALL_THRESHOLD_MS: String(STALL_THRESHOLD_MS),
      // Backoff capped at 3 s, so the first retry after the rotation comes soon.
      MEMBRANE_RETRY_MAX_MS: '3000',
      LOG_LEVEL: process.env['SCENARIO_LOG'] ?? 'error',
    });
    const running = (): boolean =>
      member.child.exitCode === null && member.child.signalCode === null;
    // /readyz, /healthz and whether the process still runs, sampled all along.
    const probes: Probe[] = [];
    const sampling = { on: true };
    const sampler = (async () => {
      while (sampling.on) {
        const [readyz, healthz] = await Promise.all([
          httpStatus(port, '/readyz'),
          httpStatus(port, '/healthz'),
        ]);
        probes.push({ at: Date.now(), readyz, healthz, running: running() });
        await delay(250);
      }
    })();
    const recovery: number[] = [];
    let stalled = 0;
    const refusal = { from: 0, to: 0 };
    const retries = { before: 0, after: 0 };
    try {
      await until('300 committed', async () => (await committed()) >= 300, [member]);
      await until('/readyz 200', async () => (await httpStatus(port, '/readyz')) === 200, [member]);
      retries.before = await counterTotal(port, 'membrane_retries_total');
      refusal.from = Date.now();
      gate.refuse(401);
      // Meanwhile the WMS moves to version 2 of its schema, which membrane has not seen:
      // every partition soon holds records membrane cannot read without the registry.
      writer = await schema('stock-adjustment.avsc');
      await delay(REFUSE_401_MS);
      gate.refuse(403);
      await delay(REFUSE_403_MS);
      const atPass = await committed();
      stalled = load.acknowledged() - atPass;
      retries.after = await counterTotal(port, 'membrane_retries_total');
      refusal.to = Date.now();
      gate.pass();
      process.stderr.write(
        `[registry-credentials] accepted again after ${(REFUSE_401_MS + REFUSE_403_MS) / 1000} s: ${gate.refused()} requests refused, ${atPass} committed, ${load.acknowledged()} sent, retries ${retries.before} → ${retries.after}\n`,
      );
      recovery.push(await secondsUntilProgress(committed, atPass, [member]));
      await until('/readyz 200 again', async () => (await httpStatus(port, '/readyz')) === 200, [
        member,
      ]);
      const more = load.acknowledged() + 300;
      await until('300 more sent', () => Promise.resolve(load.acknowledged() >= more), [member]);
    } finally {
      await load.stop();
      sampling.on = false;
      await sampler;
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
      scenario: 'registry refusing credentials (401, 403) for 20 s',
      ...accounting,
      recovery,
      seconds: (Date.now() - started) / 1000,
    };
    // From the first answer on (before it, the HTTP server was not up yet).
    const answered = probes.slice(probes.findIndex((p) => p.healthz !== 0));
    const during = probes.filter((p) => p.at >= refusal.from && p.at <= refusal.to);
    const notReady = during.filter((p) => p.readyz === 503);
    const firstNotReady = notReady[0];
    process.stderr.write(
      `[registry-credentials] /readyz during the refusal: ${during.length} probes, ${notReady.length} answered 503 (first ${firstNotReady ? ((firstNotReady.at - refusal.from) / 1000).toFixed(1) : '-'} s in); /healthz after startup: ${[...new Set(answered.map((p) => p.healthz))].join(', ')}\n`,
    );
    // The refusal really held membrane up (it was not idle by chance)…
    expect(gate.refused()).toBeGreaterThan(0);
    expect(stalled).toBeGreaterThan(1000);
    // …it kept running and alive all along, said it was not ready, and counted its retries…
    expect(probes.every((p) => p.running)).toBe(true);
    expect(answered.length).toBeGreaterThan(0);
    expect(answered.filter((p) => p.healthz !== 200)).toEqual([]);
    expect(notReady.length).toBeGreaterThan(0);
    expect(retries.after).toBeGreaterThan(retries.before);
    // …and not one record was quarantined for it: only the refused adjustments are there.
    expect(Object.keys(accounting.quarantined)).toEqual(['map.unknown-code']);
    expect(accounting.in).toBe(total);
    expectConserved(accounting);
  });
});
