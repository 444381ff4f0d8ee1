import { describe, expect, it } from 'vitest';
import {
  encodeQuarantine,
  type QuarantineEntry,
} from '../../src/adapters/quarantine/codec.js';
import { runCli } from '../support/cli.js';
import { consumeUntil, createTopics, testConsumer } from '../support/kafka.js';
import { useOrderTopics } from '../support/orders.js';
import { header } from '../support/runtime.js';
import { storedBatch, type StoredRecord } from '../support/stored-batch.js';

const GZIP = 1;
const T0 = 1_700_000_000_000;

/**
 * Review (fresh eyes): `quarantine unpack` and sizes. A refused batch is stored compressed, so it
 * fits the quarantine topic; its records, re-written one by one uncompressed with ~1 KB of
 * quarantine headers, may not.
 */
describe('review: quarantine unpack of a batch whose records do not fit the quarantine topic', () => {
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
    const producer = ctx.kafka.producer();
    await producer.connect();
    await producer.send({ topic: topics.quarantine, messages: [message] });
    await producer.disconnect();
  }

  it('never resolves the batch while leaving one of its records cut (replay cannot translate it)', async () => {
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

    const unpacked = await runCli(['quarantine', 'unpack', '--all'], env);
    const quarantine = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.quarantine],
      (r) => r.length >= (unpacked.code === 0 ? 4 : 1),
      30_000,
    );
    const cut = quarantine.filter(
      (r) =>
        header(r, 'membrane.quarantine.code') === 'trust.batch-unpacked' &&
        (header(r, 'membrane.quarantine.truncated') ?? '') !== '',
    );
    // What happens today: exit 0, "1 refused batch(es) unpacked into 3 quarantine record(s)",
    // the batch resolved (superseded by unpack), and the 2 MB record quarantined cut to ~1 MB:
    // `replay --code trust.batch-unpacked` skips it ("its original bytes are not in the
    // quarantine"), and the only whole copy is in a batch no longer unresolved (unresolve
    // --force + unpack again would duplicate the two others).
    expect(
      { code: unpacked.code, cutRecords: cut.map((r) => header(r, 'membrane.source.offset')) },
      unpacked.stdout + unpacked.stderr,
    ).toEqual({ code: 2, cutRecords: [] });
  });
});
