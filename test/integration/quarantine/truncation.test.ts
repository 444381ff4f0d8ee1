import { createHash } from 'node:crypto';
import { CompressionTypes } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { QUARANTINE_HEADERS } from '../../../src/adapters/quarantine/codec.js';
import { maxMessageBytes } from '../../../src/adapters/kafka/topics.js';
import { runCli } from '../../support/cli.js';
import { consumeUntil, testConsumer } from '../../support/kafka.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { header, runUntilCommitted } from '../../support/runtime.js';

/**
 * The broker checks `max.message.bytes` against the compressed batch, so a producer can send
 * a record that decompresses to far more than any topic takes. When it must be quarantined,
 * membrane cannot keep it byte for byte: it keeps what fits, says so, and goes on.
 */
describe('a record larger, decompressed, than the quarantine topic takes', () => {
  const ctx = useOrderTopics(1);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

  it('is quarantined cut to fit with its SHA-256, the partition goes on, and replay leaves it alone', async () => {
    const admin = ctx.admin();
    const topics = ctx.topics();
    const env = ctx.env({
      PATH: process.env['PATH'],
      LOG_LEVEL: 'silent',
      MEMBRANE_MAX_RECORD_BYTES: String(5 * 1024 * 1024),
    });
    // 3 MiB, from no known source: trust refuses it, and the quarantine topic (the inputs' 1 MiB plus
    // 1 MiB for membrane's headers) cannot take it. 6 MiB: beyond MEMBRANE_MAX_RECORD_BYTES.
    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    const huge = Buffer.alloc(6 * 1024 * 1024, 'b');
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: topics.input,
      compression: CompressionTypes.GZIP,
      messages: [{ key: 'big', value: big }, { key: 'huge', value: huge }, ...orderMessages(0, 3)],
    });
    await producer.disconnect();

    await runUntilCommitted(env, admin, topics.group, topics.input, 5);

    const limit = (await maxMessageBytes(admin, [topics.quarantine])).get(topics.quarantine) ?? 0;
    const quarantined = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.quarantine],
      (r) => r.length >= 2,
      30_000,
    );
    const byKey = new Map(quarantined.map((r) => [r.message.key?.toString(), r]));
    const cases = [
      { key: 'big', original: big, code: 'trust.source-not-allowed' },
      { key: 'huge', original: huge, code: 'trust.record-too-large' },
    ];
    for (const { key, original, code } of cases) {
      const record = byKey.get(key);
      expect(record, key).toBeDefined();
      if (!record) continue;
      expect(header(record, QUARANTINE_HEADERS.code)).toBe(code);
      const truncated = JSON.parse(header(record, QUARANTINE_HEADERS.truncated) ?? '') as {
        value: { bytes: number; kept: number; sha256: string };
      };
      expect(truncated.value).toMatchObject({ bytes: original.length, sha256: sha(original) });
      const value = record.message.value ?? Buffer.alloc(0);
      expect(value.length).toBe(truncated.value.kept);
      expect(value.length).toBeLessThan(limit);
      expect(value.equals(original.subarray(0, value.length))).toBe(true);
    }

    const listed = await runCli(['quarantine', 'list', '--json', '--code', 'trust.*'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { ref: string; truncated: unknown });
    const cut = rows.filter((r) => r.truncated !== null);
    expect(cut).toHaveLength(2);

    const shown = await runCli(['quarantine', 'show', cut[0]?.ref ?? ''], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(
      /^ {2}truncated {4}value cut to its first \d+ of \d+ bytes \(sha256 [0-9a-f]{64}\); so it cannot be replayed$/m,
    );

    const replayed = await runCli(
      ['quarantine', 'replay', '--code', 'trust.record-too-large'],
      env,
    );
    expect(replayed.code, replayed.stderr).toBe(2);
    expect(replayed.stdout).toMatch(/skipped: quarantined truncated/);
    expect(replayed.stdout).toMatch(
      /0 replayed, 0 dropped by the mapping, 0 still failing, 1 skipped/,
    );
    const after = await runCli(['quarantine', 'list', '--json', '--code', 'trust.*'], env);
    expect(after.stdout.trim().split('\n')).toHaveLength(rows.length);
  }, 180_000);
});
