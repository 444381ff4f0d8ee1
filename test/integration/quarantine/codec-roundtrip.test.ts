import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import {
  decodeQuarantine,
  encodeQuarantine,
  QUARANTINE_HEADERS,
} from '../../../src/adapters/quarantine/codec.js';
import {
  consumeUntil,
  createTopics,
  testConsumer,
  testKafka,
  uniqueName,
} from '../../support/kafka.js';

describe('quarantine records through the real broker', () => {
  const kafka = testKafka();
  const topic = uniqueName('quarantine');
  let admin: Admin;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    drop = await createTopics(admin, [{ topic }]);
  });

  afterAll(async () => {
    await drop();
    await admin.disconnect();
  });

  it('come back with the upstream bytes and headers intact, even headers with our names', async () => {
    const upstream = {
      key: Buffer.from('4711'),
      value: Buffer.from([0x00, 0xde, 0xad, 0xbe, 0xef]),
      headers: {
        'x-signature': Buffer.from([1, 2, 3]),
        [QUARANTINE_HEADERS.topic]: 'an-earlier-membrane',
      },
    };
    const entry = {
      source: { topic: 'erp.orders', partition: 0, offset: '12', timestamp: '1763800000000' },
      mapping: 'legacy-orders@3',
      stage: 'decode' as const,
      issues: [
        { code: 'decode.wrong-magic-byte' as const, path: '', message: 'first byte is 0x00' },
      ],
      id: undefined,
      quarantinedAt: '2026-11-22T05:00:00.000Z',
      attempt: 1,
    };
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, messages: [encodeQuarantine(upstream, entry)] });
    await producer.disconnect();

    const [received] = await consumeUntil(testConsumer(kafka), [topic], (r) => r.length >= 1);
    const message = received?.message;
    const decoded = decodeQuarantine({
      key: message?.key ?? null,
      value: message?.value ?? null,
      headers: message?.headers ?? {},
    });
    expect(decoded.entry).toEqual(entry);
    expect(decoded.upstream.key).toEqual(upstream.key);
    expect(decoded.upstream.value).toEqual(upstream.value);
    expect(decoded.upstream.headers).toEqual({
      'x-signature': Buffer.from([1, 2, 3]),
      [QUARANTINE_HEADERS.topic]: Buffer.from('an-earlier-membrane'),
    });
  });
});
