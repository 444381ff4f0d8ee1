import { CompressionTypes, type Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { consumeUntil, testConsumer, type Received } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderFate, orderMessages, useOrderTopics } from '../../support/orders.js';
import { header } from '../../support/runtime.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';

/**
 * Found by a review (a redelivery inside the batch emitted twice, one key's events reordered
 * across the quarantine's partitions): the README promises that `replay` translates unpacked records "with the IDs
 * membrane would have given them had it decoded the batch". The same upstream records go to
 * two topic copies: A is run with limits the batch fits (it is decoded), B with a limit it
 * exceeds (refused), then unpacked and replayed. What reaches the output topics must be the
 * same: each ID once, and for one output key the same IDs in the same order.
 *
 * The batch: 30 orders of 4 order IDs (not a multiple of the quarantine's 3 partitions) (so one order has several events in one output topic),
 * with no Kafka key (the mapping keys its outputs by order_id from the payload), and one
 * upstream redelivery of its first event (same event_id, same bytes) at its end.
 */
const IN_BATCH = 30;
const ORDERS = 4;

function batch(): Message[] {
  // One timestamp for both copies (they are sent separately).
  const messages = orderMessages(0, IN_BATCH, ORDERS).map((m, n) => ({
    ...m,
    key: null,
    timestamp: String(1_790_000_000_000 + n),
  }));
  const first = messages[0];
  if (!first) throw new Error('no messages');
  return [...messages, { ...first }];
}

interface Out {
  readonly role: string;
  readonly key: string;
  readonly id: string;
  readonly payload: string;
  readonly offset: string | undefined;
  readonly timestamp: string | undefined;
}

function outputsOf(received: readonly Received[], placed: string): Out[] {
  return [...received]
    .sort(
      (a, b) => a.partition - b.partition || Number(a.message.offset) - Number(b.message.offset),
    )
    .map((r) => ({
      role: r.topic === placed ? 'placed' : 'cancelled',
      key: r.message.key?.toString() ?? '',
      id: header(r, 'membrane.id') ?? '',
      // Past the 5-byte Confluent header (schema IDs may differ between the copies' subjects).
      payload: (r.message.value ?? Buffer.alloc(0)).subarray(5).toString('hex'),
      offset: header(r, 'membrane.source.offset'),
      timestamp: header(r, 'membrane.source.timestamp'),
    }));
}

/** For each output topic and key, the IDs in the order a consumer reads them. */
function perKey(outs: readonly Out[]): Record<string, string[]> {
  const byKey: Record<string, string[]> = {};
  for (const o of outs) (byKey[`${o.role}/${o.key}`] ??= []).push(o.id);
  return byKey;
}

const expectedOutputs = Array.from({ length: IN_BATCH }, (_, i) => i).filter(
  (i) => orderFate(i).fate === 'output',
).length;

describe('unpack + replay gives what run would have given', () => {
  const a = useOrderTopics(1);
  const b = useOrderTopics(1);

  it('same IDs, once each, in the same order per output key', async () => {
    const messages = batch();
    for (const ctx of [a, b]) {
      const producer = ctx.kafka.producer({ idempotent: true });
      await producer.connect();
      await producer.send({
        topic: ctx.topics().input,
        compression: CompressionTypes.GZIP,
        messages,
      });
      await producer.disconnect();
    }

    // A: decoded.
    const envA = a.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' });
    await catchUpAndStop(
      spawnCli(['run'], envA),
      committedOf(() => a.admin(), a.topics().group, a.topics().input),
      messages.length,
    );
    const outA = outputsOf(
      await consumeUntil(
        testConsumer(a.kafka),
        [a.topics().placed, a.topics().cancelled],
        (r) => r.length >= expectedOutputs,
      ),
      a.topics().placed,
    );

    // B: refused (a quarantine of 3 partitions), unpacked, replayed.
    const envB = b.env({
      PATH: process.env['PATH'],
      LOG_LEVEL: 'warn',
      MEMBRANE_MAX_BATCH_RECORDS: '5',
      MEMBRANE_TOPIC_PARTITIONS: '3',
    });
    await catchUpAndStop(
      spawnCli(['run'], envB),
      committedOf(() => b.admin(), b.topics().group, b.topics().input),
      messages.length,
    );
    const unpacked = await runCli(
      ['quarantine', 'unpack', '--all', '--max-batch-records', '1000'],
      envB,
    );
    expect(unpacked.code, unpacked.stderr + unpacked.stdout).toBe(0);
    const replayed = await runCli(['quarantine', 'replay', '--code', 'trust.batch-unpacked'], envB);
    expect([0, 2], replayed.stderr + replayed.stdout).toContain(replayed.code);
    // The redelivery is dropped as a duplicate, as run drops it.
    expect(replayed.stdout).toMatch(
      new RegExp(`^${expectedOutputs} replayed, [1-9]\\d* dropped`, 'm'),
    );
    const outB = outputsOf(
      await consumeUntil(
        testConsumer(b.kafka),
        [b.topics().placed, b.topics().cancelled],
        (r) => r.length >= expectedOutputs,
      ),
      b.topics().placed,
    );

    // Sanity: A decoded the batch, dropped the redelivery as a duplicate.
    expect(outA).toHaveLength(expectedOutputs);
    expect(new Set(outA.map((o) => o.id)).size).toBe(expectedOutputs);

    const byId = (outs: readonly Out[]): Out[] =>
      [...outs].sort((x, y) => x.id.localeCompare(y.id) || Number(x.offset) - Number(y.offset));
    // Same records (ID, payload, key, source coordinates), each once.
    expect(byId(outB), 'B (unpack + replay) emits what A (run) emits, each once').toEqual(
      byId(outA),
    );
    // The same order per output key.
    expect(perKey(outB), 'per output key, the same IDs in the same order').toEqual(perKey(outA));
  });
});
