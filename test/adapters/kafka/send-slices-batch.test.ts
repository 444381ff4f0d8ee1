import { createRequire } from 'node:module';
import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MAX_SEND_BYTES, sendSlices } from '../../../src/adapters/kafka/send-slices.js';

/**
 * Review finding (review11): kafkajs puts everything one produce call sends to a partition
 * into one record batch, and the broker refuses a batch larger than the topic's
 * `max.message.bytes` (MESSAGE_TOO_LARGE: `kafka.record-too-large`, fatal, and the same chunk
 * again after every restart). `sendSlices` keeps a call under MAX_SEND_BYTES by its own
 * estimate, which counts a header name in UTF-16 code units rather than bytes and leaves out
 * each header's and each record's framing. A producer controls both: records with long
 * non-ASCII header names, or with thousands of empty headers (within MEMBRANE_MAX_HEADERS, or
 * beyond it and quarantined with them), are quarantined byte for byte and go out together in
 * a batch the quarantine topic refuses.
 *
 * What must hold: messages each of which, alone, makes a batch within Kafka's default limit
 * are never sent together in a batch beyond it. The batch is measured as kafkajs encodes it
 * (every message of the call to one partition: the worst case, one key).
 */
const require = createRequire(import.meta.url);
type RecordFn = (input: {
  offsetDelta: number;
  timestampDelta: number;
  key: Buffer | string | null | undefined;
  value: Buffer | string | null | undefined;
  headers: Message['headers'];
}) => unknown;
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as RecordFn;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (input: {
    records: unknown[];
    transactional: boolean;
  }) => Promise<{ size(): number }>;
};

/** Kafka's default `max.message.bytes` (the broker's `message.max.bytes`). */
const DEFAULT_LIMIT = 1_048_588;

async function batchBytes(messages: readonly Message[]): Promise<number> {
  const records = messages.map((m, i) =>
    Record({ offsetDelta: i, timestampDelta: 0, key: m.key, value: m.value, headers: m.headers }),
  );
  return (await RecordBatch({ records, transactional: true })).size();
}

async function expectEveryCallFits(messages: readonly Message[]): Promise<void> {
  // The premise: each message alone fits a default topic (they are all alike).
  expect(await batchBytes(messages.slice(0, 1))).toBeLessThanOrEqual(DEFAULT_LIMIT);
  const slices = sendSlices([{ topic: 'quarantine', messages: [...messages] }], MAX_SEND_BYTES);
  for (const slice of slices) {
    const sent = slice.flatMap((t) => t.messages);
    if (sent.length > 1) expect(await batchBytes(sent)).toBeLessThanOrEqual(DEFAULT_LIMIT);
  }
}

describe('produce calls, as the broker measures them', () => {
  it('count header names in bytes: three records with a 600 KB name of 3-byte characters', async () => {
    const messages = [0, 1, 2].map((i) => ({
      key: 'same',
      value: Buffer.from(`{"n":${i}}`),
      headers: { [`${'中'.repeat(200_000)}${i}`]: 'x' },
    }));
    await expectEveryCallFits(messages);
  });

  it("count each header's framing: records of 1,000 empty headers each", async () => {
    const messages = Array.from({ length: 600 }, (_, i) => ({
      key: 'same',
      value: Buffer.from(`{"n":${i}}`),
      headers: { '': Array<string>(1_000).fill('') },
    }));
    await expectEveryCallFits(messages);
  });
});
