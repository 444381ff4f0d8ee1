import type { Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTopics } from '../../../src/adapters/kafka/topics.js';
import { replay } from '../../../src/app/quarantine/replay.js';
import type { QuarantinedRecord } from '../../../src/app/quarantine/store.js';
import { testKafka, uniqueName } from '../../support/kafka.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';

describe('replaying into an output topic with a small max.message.bytes', () => {
  const kafka = testKafka();
  const output = uniqueName('placed');
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [
      {
        topic: output,
        numPartitions: 1,
        configEntries: [{ name: 'max.message.bytes', value: '4000' }],
      },
    ]);
  });

  afterAll(async () => {
    await admin.deleteTopics({ topics: [output] });
    await admin.disconnect();
  });

  const quarantined = (ref: string, order: object): QuarantinedRecord => ({
    ref,
    partition: 0,
    offset: ref.split(':')[1] ?? '0',
    entry: {
      source: { topic: 'erp.orders', partition: 0, offset: '7', timestamp: '1763800000000' },
      mapping: 'orders@1',
      stage: 'map',
      issues: [{ code: 'map.missing-field', path: 'total', message: 'missing' }],
      id: undefined,
      quarantinedAt: '2026-11-22T08:00:00.000Z',
      attempt: 1,
    },
    upstream: { key: null, value: Buffer.from(JSON.stringify(order)), headers: {} },
    resolution: undefined,
  });

  it('reports a record the topic cannot take as encode.too-large, like membrane run', async () => {
    const pipeline = await compileText(
      BASE_MAPPING.replace('topic: sales.placed', `topic: ${output}`).replace(
        '      orderId: order_id',
        '      orderId: order_id\n      note: { from: note, optional: true }',
      ),
    );
    const outcomes = await replay({
      kafka,
      quarantineTopic: uniqueName('quarantine'),
      pipelines: new Map([['orders', pipeline]]),
      records: [
        quarantined('0:1', { event_id: 'e-1', order_id: 'o-1', total: '1.00' }),
        quarantined('0:2', {
          event_id: 'e-2',
          order_id: 'o-2',
          total: '1.00',
          note: 'n'.repeat(5000),
        }),
      ],
      dryRun: true,
    });
    expect(outcomes.map((o) => o.kind)).toEqual(['replayed', 'failing']);
    expect(outcomes[1]).toMatchObject({ issues: [{ code: 'encode.too-large' }] });
  });
});
