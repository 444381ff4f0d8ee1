import { describe, expect, it } from 'vitest';
import { groupStatus } from '../../../src/adapters/kafka/status.js';
import { loadRunConfig } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/logger.js';
import { Runtime } from '../../../src/app/runtime/bootstrap.js';
import { waitFor } from '../../../src/infra/wait.js';
import { consumeUntil, testConsumer } from '../../support/kafka.js';
import { expectClocksCountUp, expectEachSourceOnce, header } from '../../support/runtime.js';
import { EXPECTED_CODE, orderKind, orderMessages, useOrderTopics } from '../../support/orders.js';

const N = 600;
const REDELIVERED = 25;
const PARTITIONS = 3;

describe.each(['exactly_once', 'at_least_once'] as const)('membrane run, %s', (guarantee) => {
  const ctx = useOrderTopics(PARTITIONS);
  const { kafka } = ctx;

  it('accounts for every upstream offset exactly once: an output, a quarantine record, or a counted drop', async () => {
    const admin = ctx.admin();
    const topics = ctx.topics();
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    // Upstream redelivers some events it already sent: same event ID, new offset.
    const redelivered = Array.from({ length: N }, (_, i) => i)
      .filter((i) => orderKind(i) === 'placed')
      .slice(0, REDELIVERED);
    await producer.send({
      topic: topics.input,
      messages: redelivered.flatMap((i) => orderMessages(i, 1)),
    });
    await producer.disconnect();

    const config = loadRunConfig(
      ctx.env({
        MEMBRANE_COMMIT_MAX_RECORDS: '50',
        MEMBRANE_PROCESSING_GUARANTEE: guarantee,
        LOG_LEVEL: 'error',
      }),
    );
    const runtime = new Runtime({
      config,
      logger: createLogger('error'),
      env: { ...process.env, ...ctx.env() },
    });
    await runtime.start();
    try {
      // Wait until the group's committed offsets reach the end of the input.
      const ends = await admin.fetchTopicOffsets(topics.input);
      const done = await waitFor(
        async () => {
          const [committed] = await admin.fetchOffsets({
            groupId: topics.group,
            topics: [topics.input],
          });
          const behind = ends.filter(
            (end) =>
              committed?.partitions.find((p) => p.partition === end.partition)?.offset !==
              end.offset,
          );
          if (behind.length > 0) throw new Error(`${behind.length} partitions behind`);
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      expect(done.ok).toBe(true);

      // What `membrane status` shows: no lag left, the quarantine's size.
      const status = await groupStatus(kafka, admin, topics.group, topics.quarantine);
      expect(status.partitions.map((p) => [p.topic, p.partition, p.lag])).toEqual(
        [0, 1, 2].map((p) => [topics.input, p, 0]),
      );
      const kinds = Array.from({ length: N }, (_, i) => orderKind(i));
      expect(status.quarantined).toEqual({
        'trust.signature-invalid': kinds.filter((k) => k === 'bad-signature').length,
        'decode.invalid-json': kinds.filter((k) => k === 'not-json').length,
        'map.unknown-code': kinds.filter((k) => k === 'unknown-status').length,
      });
      expect(status.members).toBe(1);

      const readyz = await fetch(`http://127.0.0.1:${runtime.httpPort ?? 0}/readyz`);
      expect(readyz.status).toBe(200);
      const metrics = await (
        await fetch(`http://127.0.0.1:${runtime.httpPort ?? 0}/metrics`)
      ).text();
      // All drops, whatever their reason.
      const dropped = [
        ...metrics.matchAll(/^membrane_records_dropped_total\{[^}]*\} (\d+)$/gm),
      ].reduce((sum, m) => sum + Number(m[1]), 0);
      const recordsIn = Number(/membrane_records_in_total\{[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0);
      expect(recordsIn).toBe(N + REDELIVERED);
      for (const partition of [0, 1, 2]) {
        expect(metrics).toContain(
          `membrane_lag_records{topic="${topics.input}",partition="${partition}"} 0`,
        );
      }
      expect(metrics).toMatch(
        /^membrane_transaction_seconds_count\{mapping="legacy-orders"\} [1-9]/m,
      );

      const expected = Array.from({ length: N }, (_, i) => orderKind(i));
      const count = (kinds: string[]): number => expected.filter((k) => kinds.includes(k)).length;
      const outputs = await consumeUntil(
        testConsumer(kafka),
        [topics.placed, topics.cancelled],
        (r) => r.length >= count(['placed', 'cancelled']),
      );
      const quarantined = await consumeUntil(
        testConsumer(kafka),
        [topics.quarantine],
        (r) => r.length >= count(['bad-signature', 'not-json', 'unknown-status']),
      );
      const duplicates = Number(
        /membrane_records_dropped_total\{[^}]*kind="duplicate"\} (\d+)/.exec(metrics)?.[1] ?? 0,
      );
      expect(duplicates).toBe(REDELIVERED);
      expect(dropped).toBe(count(['test']) + REDELIVERED);

      // Every offset once, across outputs and quarantine; the rest are exactly the drops.
      const accounted = expectEachSourceOnce([...outputs, ...quarantined]);
      expect(accounted.length + count(['test'])).toBe(N);
      const ids = outputs.map((r) => header(r, 'membrane.id'));
      expect(new Set(ids).size).toBe(ids.length);

      // Each bad record is quarantined with its specific code, bytes unchanged.
      for (const r of quarantined) {
        const eventCode = header(r, 'membrane.quarantine.code');
        expect(Object.values(EXPECTED_CODE)).toContain(eventCode);
      }
      expect(
        quarantined.filter(
          (r) => header(r, 'membrane.quarantine.code') === 'trust.signature-invalid',
        ),
      ).toHaveLength(count(['bad-signature']));
      expect(
        quarantined.filter((r) => header(r, 'membrane.quarantine.code') === 'decode.invalid-json'),
      ).toHaveLength(count(['not-json']));

      expectClocksCountUp(outputs, 'legacy-erp');
    } finally {
      await runtime.stop();
    }
  });
});
