import fc from 'fast-check';
import type { Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { messageBytes, sendSlices } from '../../../src/adapters/kafka/send-slices.js';

const message = (id: number, valueBytes: number, headers: Message['headers'] = {}): Message => ({
  key: `k${id}`,
  value: Buffer.alloc(valueBytes, id % 256),
  headers: { ...headers, seq: String(id) },
});

describe('splitting what a transaction sends into produce calls', () => {
  it("counts key, value, header names and values in bytes, and Kafka's framing", () => {
    expect(
      messageBytes({ key: 'ab', value: Buffer.alloc(10), headers: { h: 'xyz', m: ['1', '22'] } }),
    ).toBe(36 + 2 + 10 + (10 + 1 + 3) + (10 + 1 + 1) + (10 + 1 + 2));
    // A record's framing even when empty; names in bytes, not characters.
    expect(messageBytes({ key: null, value: null })).toBe(36);
    expect(messageBytes({ value: null, headers: { é: '' } })).toBe(36 + 10 + 2);
  });

  it("keeps a topic's messages in one call within what that topic takes, less the batch header", () => {
    const small = Array.from({ length: 10 }, (_, i) => message(i, 300));
    const other = Array.from({ length: 10 }, (_, i) => message(100 + i, 300));
    const slices = sendSlices(
      [
        { topic: 'small', messages: small, maxBatchBytes: 1000 },
        { topic: 'other', messages: other },
      ],
      100_000,
    );
    for (const slice of slices) {
      const mine = slice.find((t) => t.topic === 'small')?.messages ?? [];
      const bytes = mine.reduce((sum, m) => sum + messageBytes(m), 0);
      if (mine.length > 1) expect(bytes).toBeLessThanOrEqual(1000 - 61);
    }
    expect(slices.flatMap((s) => s.find((t) => t.topic === 'small')?.messages ?? [])).toEqual(
      small,
    );
    // The other topic is not held back by it: it rides along in the first calls.
    expect(slices.length).toBeGreaterThan(1);
  });

  it('sends a small chunk in one call', () => {
    const topicMessages = [
      { topic: 'a', messages: [message(1, 100), message(2, 100)] },
      { topic: 'b', messages: [message(3, 100)] },
    ];
    expect(sendSlices(topicMessages, 1000)).toEqual([topicMessages]);
  });

  it('keeps every call under the limit, every message once, and each topic in order', () => {
    const topics = fc.array(
      fc.record({
        topic: fc.constantFrom('out', 'quarantine', 'changelog'),
        sizes: fc.array(fc.nat({ max: 3000 }), { maxLength: 40 }),
      }),
      { maxLength: 4 },
    );
    fc.assert(
      fc.property(topics, fc.integer({ min: 1000, max: 10_000 }), (spec, maxBytes) => {
        let id = 0;
        const topicMessages = spec.map(({ topic, sizes }) => ({
          topic,
          messages: sizes.map((n) => message(id++, n)),
        }));
        const slices = sendSlices(topicMessages, maxBytes);
        for (const slice of slices) {
          const messages = slice.flatMap((t) => t.messages);
          const bytes = messages.reduce((sum, m) => sum + messageBytes(m), 0);
          // Over the limit only as a single message that is larger on its own.
          if (bytes > maxBytes) expect(messages).toHaveLength(1);
          expect(messages.length).toBeGreaterThan(0);
        }
        for (const topic of new Set(spec.map((t) => t.topic))) {
          const sent = slices.flatMap((slice) =>
            slice.filter((t) => t.topic === topic).flatMap((t) => t.messages),
          );
          const given = topicMessages.filter((t) => t.topic === topic).flatMap((t) => t.messages);
          expect(sent).toEqual(given);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
