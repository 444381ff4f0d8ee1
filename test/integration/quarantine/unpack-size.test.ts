import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { encodeQuarantine, type QuarantineEntry } from '../../../src/adapters/quarantine/codec.js';
import { runCli } from '../../support/cli.js';
import { consumeUntil, createTopics, testConsumer } from '../../support/kafka.js';
import { useOrderTopics } from '../../support/orders.js';
import { header } from '../../support/runtime.js';
import { storedBatch, type StoredRecord } from '../../support/stored-batch.js';

// kafkajs is CommonJS: its enums are reached through the default export.
const { ConfigResourceTypes } = kafkajs;
const GZIP = 1;
const T0 = 1_700_000_000_000;

/**
 * `quarantine unpack` and sizes (found by a review). A refused batch is stored compressed, so it
 * fits the quarantine topic; its records, re-written one by one uncompressed with membrane's
 * headers, may not. Cut to fit, such a record could not be replayed, and the batch — its only
 * whole copy — would be resolved: the batch stays unresolved until the topic takes them.
 */
describe('quarantine unpack of a batch whose records do not fit the quarantine topic', () => {
  const ctx = useOrderTopics(1);

  /** Writes a trust.batch-refused quarantine record of `records` as membrane does. */
  async function quarantineRefusedBatch(records: readonly StoredRecord[]): Promise<void> {
    const topics = ctx.topics();
    const first = 100;
    const last = String(first + records.length - 1);
    const value = await storedBatch(records, { first, timestamp: T0, compression: GZIP });
    const entry: QuarantineEntry = {
      source: { topic: topics.input, partition: 0, offset: last, timestamp: String(T0) },
      mapping: 'legacy-orders@1',
      stage: 'trust',
      issues: [
        {
          code: 'trust.batch-refused',
          path: '',
          message: `the gzip batch at offsets ${first}–${last} could not be decoded into records (test)`,
        },
      ],
      id: undefined,
      quarantinedAt: new Date(T0).toISOString(),
      attempt: 1,
      batch: { firstOffset: String(first), lastOffset: last },
    };
    const message = encodeQuarantine({ key: null, value, headers: {} }, entry, 1_000_000);
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.quarantine, messages: [message] });
    await producer.disconnect();
  }

  it('leaves the batch unresolved, nothing written, until the topic takes its records whole', async () => {
    const topics = ctx.topics();
    // The quarantine topic with the broker's default max.message.bytes (about 1 MB).
    await createTopics(ctx.admin(), [{ topic: topics.quarantine, numPartitions: 1 }]);
    // A 2 MB JSON order compresses to a few KB: the upstream topic took the batch, membrane
    // (with default limits) would translate the record; the batch was refused for another
    // reason (here: it is written as refused directly).
    const big = Buffer.from(
      JSON.stringify({ order_id: 'o-big', note: 'x'.repeat(2 * 1024 * 1024) }),
    );
    await quarantineRefusedBatch([
      { key: Buffer.from('o-1'), value: Buffer.from('{"order_id":"o-1"}'), headers: {} },
      { key: Buffer.from('o-big'), value: big, headers: {} },
      { key: Buffer.from('o-3'), value: Buffer.from('{"order_id":"o-3"}'), headers: {} },
    ]);
    const env = ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' });

    const refused = await runCli(['quarantine', 'unpack', '--all'], env);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stdout).toMatch(
      /skipped: its record at offset 101 takes \d+ bytes as a quarantine record, more than the quarantine topic takes \(max\.message\.bytes \d+\): raise that, then unpack it again/,
    );
    // Still unresolved, nothing written.
    const listed = await runCli(
      ['quarantine', 'list', '--code', 'trust.batch-refused', '--json'],
      env,
    );
    expect(listed.code, listed.stderr).toBe(0);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { resolution: unknown }).resolution),
    ).toEqual([null]);

    // Once the topic takes them, the batch unpacks, every record whole.
    await ctx.admin().alterConfigs({
      validateOnly: false,
      resources: [
        {
          type: ConfigResourceTypes.TOPIC,
          name: topics.quarantine,
          configEntries: [{ name: 'max.message.bytes', value: String(8 * 1024 * 1024) }],
        },
      ],
    });
    const unpacked = await runCli(['quarantine', 'unpack', '--all'], env);
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(unpacked.stdout).toContain('unpacked into 3 record(s), offsets 100–102');
    const quarantine = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.quarantine],
      (r) => r.length >= 4,
      30_000,
    );
    const records = quarantine.filter(
      (r) => header(r, 'membrane.quarantine.code') === 'trust.batch-unpacked',
    );
    expect(records.map((r) => header(r, 'membrane.source.offset'))).toEqual(['100', '101', '102']);
    expect(records.map((r) => header(r, 'membrane.quarantine.truncated'))).toEqual(['', '', '']);
    expect(records[1]?.message.value).toEqual(big);
  });
});
