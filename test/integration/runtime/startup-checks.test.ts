import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { loadRunConfig } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/logger.js';
import { loadPipelines, prepareTopics, Runtime } from '../../../src/app/runtime/bootstrap.js';
import { maxMessageBytes } from '../../../src/adapters/kafka/topics.js';
import { createTopics, infra, testKafka, uniqueName } from '../../support/kafka.js';
import { BASE_MAPPING, folderWith } from '../../support/mappings.js';
import { jsonRecord } from '../../support/records.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';

describe('membrane run checks the cluster before it joins', () => {
  const kafka = testKafka();
  const a = uniqueName('in-a');
  const b = uniqueName('in-b');
  let admin: Admin;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [
      { topic: a, numPartitions: 3 },
      { topic: b, numPartitions: 2 },
    ]);
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  async function start(topics: string): Promise<unknown> {
    const dir = await folderWith({});
    await writeFile(
      join(dir, 'orders.yaml'),
      BASE_MAPPING.replace('topics: [erp.orders]', `topics: [${topics}]`),
    );
    const runtime = new Runtime({
      config: loadRunConfig({
        KAFKA_BROKERS: infra().brokers.join(','),
        SCHEMA_REGISTRY_URL: infra().registryUrl,
        MEMBRANE_MAPPINGS: dir,
        MEMBRANE_GROUP_ID: uniqueName('g'),
        MEMBRANE_HTTP_PORT: '0',
      }),
      logger: createLogger('silent'),
    });
    try {
      await runtime.start();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await runtime.stop();
    }
  }

  it('refuses inputs of one mapping that are not co-partitioned, saying which', async () => {
    expect(await start(`${a}, ${b}`)).toMatchObject({
      code: 'config.not-copartitioned',
      message: expect.stringContaining(
        `reads ${a} (3 partitions) and ${b} (2 partitions)`,
      ) as string,
    });
  });

  it('refuses input topics that do not exist, naming them', async () => {
    const missing = uniqueName('nope');
    expect(await start(`${a}, ${missing}`)).toMatchObject({
      code: 'config.input-missing',
      message: `Input topic ${missing} does not exist.`,
    });
  });
});

describe('membrane run sizes the quarantine for the largest input record', () => {
  const kafka = testKafka();
  const input = uniqueName('in');
  let admin: Admin;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic: input }]);
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  const prepare = async (
    quarantine: string,
  ): Promise<{ warnings: readonly string[]; pipeline: Pipeline | undefined }> => {
    const dir = await folderWith({});
    await writeFile(
      join(dir, 'orders.yaml'),
      BASE_MAPPING.replace('topics: [erp.orders]', `topics: [${input}]`)
        .replace('topic: sales.placed', `topic: ${uniqueName('out')}`)
        .replace(
          '      orderId: order_id',
          '      orderId: order_id\n      note: { from: note, optional: true }',
        ),
    );
    const config = loadRunConfig({
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      MEMBRANE_MAPPINGS: dir,
      MEMBRANE_GROUP_ID: uniqueName('g'),
      MEMBRANE_QUARANTINE_TOPIC: quarantine,
    });
    const pipelines = await loadPipelines(config, {});
    const { warnings } = await prepareTopics(admin, pipelines, config);
    return { warnings, pipeline: pipelines[0] };
  };

  it('creates the quarantine topic to take an input record at its limit plus headers', async () => {
    const quarantine = uniqueName('quarantine');
    const { warnings, pipeline } = await prepare(quarantine);
    expect(warnings).toEqual([]);
    const limits = await maxMessageBytes(admin, [input, quarantine]);
    expect(limits.get(quarantine)).toBe((limits.get(input) ?? 0) + 1024 * 1024);
    // And the pipeline knows what its output topic takes: a record too large for it is
    // quarantined rather than failing its produce for ever.
    const huge = { event_id: 'e-1', order_id: 'o-1', total: '1.00', note: 'n'.repeat(1_100_000) };
    expect(await pipeline?.process(jsonRecord(huge))).toMatchObject({
      kind: 'quarantine',
      issues: [{ code: 'encode.too-large' }],
    });
    await admin.deleteTopics({ topics: [quarantine] });
  });

  it('warns when an existing quarantine topic is too small for that', async () => {
    const quarantine = uniqueName('quarantine');
    await createTopics(admin, [{ topic: quarantine }]);
    const [warning] = (await prepare(quarantine)).warnings;
    expect(warning).toContain(`Quarantine topic ${quarantine} takes records of at most`);
    expect(warning).toContain('Raise its max.message.bytes to');
    await admin.deleteTopics({ topics: [quarantine] });
  });

  it("refuses a quarantine topic too small for membrane's own headers", async () => {
    const quarantine = uniqueName('quarantine');
    await admin.createTopics({
      topics: [
        {
          topic: quarantine,
          numPartitions: 1,
          configEntries: [{ name: 'max.message.bytes', value: '20000' }],
        },
      ],
    });
    await expect(prepare(quarantine)).rejects.toMatchObject({
      code: 'config.quarantine-too-small',
      message: expect.stringContaining('takes records of at most 20000 bytes') as unknown,
    });
    await admin.deleteTopics({ topics: [quarantine] });
  });
});
