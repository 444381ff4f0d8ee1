import { CompressionTypes, type Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { consumeUntil, testConsumer, type Received } from '../../support/kafka.js';
import { decodeBatch, Decoder } from '../../support/kafka-wire.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderFate, orderMessages, useOrderTopics } from '../../support/orders.js';
import { header } from '../../support/runtime.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';

/** MEMBRANE_MAX_BATCH_RECORDS for the run: a compressed batch of more is refused. */
const LIMIT = 5;
const REFUSED = LIMIT + 1;

/** A slice of the order sequence, pinned to one partition. */
const slice = (from: number, count: number, partition: number): Message[] =>
  orderMessages(from, count).map((m) => ({ ...m, partition }));

/**
 * Found holding by a review (review11b): refused batches where the fetch path is most delicate. On two partitions, all
 * produced before membrane starts so that one fetch carries them together:
 *
 *   p0: 3 plain records · a refused gzip batch in a COMMITTED transaction (+ marker) · a
 *       refused gzip batch in an ABORTED transaction (+ marker) · a refused gzip batch
 *       followed at once by a gzip batch within the limit · 3 plain records
 *   p1: a refused gzip batch, then 3 plain records
 *
 * Every committed upstream offset must end up translated, dropped by rule, or inside a
 * trust.batch-refused quarantine record's range; the aborted batch must not be quarantined.
 * Then a restart: the refused batches are not quarantined again.
 */
describe.each(['exactly_once', 'at_least_once'])(
  'refused batches in transactions, beside good ones, on two partitions (%s)',
  (guarantee) => {
    const ctx = useOrderTopics(2);

    it('accounts for every committed offset, quarantines each refused batch once, and never the aborted one', async () => {
      const topics = ctx.topics();
      const plain = ctx.kafka.producer({ idempotent: true });
      await plain.connect();
      let seq = 0;
      const take = (count: number, partition: number): Message[] => {
        const messages = slice(seq, count, partition);
        seq += count;
        return messages;
      };
      // Which sequence numbers end up where, to account for them afterwards.
      const refusedSeqs: number[][] = [];
      const abortedSeqs: number[] = [];
      const seqsOf = (messages: Message[]): number[] =>
        messages.map((m) => Number((m.headers as Record<string, string>)['x-test-seq']));

      await plain.send({ topic: topics.input, messages: take(3, 0) });
      const transactional = ctx.kafka.producer({
        transactionalId: `${topics.group}-upstream`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await transactional.connect();
      const committedBatch = take(REFUSED, 0);
      const t1 = await transactional.transaction();
      await t1.send({
        topic: topics.input,
        compression: CompressionTypes.GZIP,
        messages: committedBatch,
      });
      await t1.commit();
      refusedSeqs.push(seqsOf(committedBatch));
      const abortedBatch = take(REFUSED, 0);
      const t2 = await transactional.transaction();
      await t2.send({
        topic: topics.input,
        compression: CompressionTypes.GZIP,
        messages: abortedBatch,
      });
      await t2.abort();
      abortedSeqs.push(...seqsOf(abortedBatch));
      await transactional.disconnect();
      const refusedPlain = take(REFUSED, 0);
      await plain.send({
        topic: topics.input,
        compression: CompressionTypes.GZIP,
        messages: refusedPlain,
      });
      refusedSeqs.push(seqsOf(refusedPlain));
      await plain.send({
        topic: topics.input,
        compression: CompressionTypes.GZIP,
        messages: take(LIMIT - 2, 0),
      });
      await plain.send({ topic: topics.input, messages: take(3, 0) });
      const refusedP1 = take(REFUSED, 1);
      await plain.send({
        topic: topics.input,
        compression: CompressionTypes.GZIP,
        messages: refusedP1,
      });
      refusedSeqs.push(seqsOf(refusedP1));
      await plain.send({ topic: topics.input, messages: take(3, 1) });

      const admin = ctx.admin();
      const ends = await admin.fetchTopicOffsets(topics.input);
      const total = ends.reduce((sum, p) => sum + Number(p.high), 0);
      const env = ctx.env({
        PATH: process.env['PATH'],
        LOG_LEVEL: 'warn',
        MEMBRANE_GUARANTEE: guarantee,
        MEMBRANE_MAX_BATCH_RECORDS: String(LIMIT),
      });
      const committed = committedOf(() => admin, topics.group, topics.input);
      await catchUpAndStop(spawnCli(['run'], env), committed, total);

      const counted = [...refusedSeqs.flat(), ...abortedSeqs];
      const others = Array.from({ length: seq }, (_, i) => i).filter((i) => !counted.includes(i));
      const expectedQuarantine =
        others.filter((i) => orderFate(i).fate === 'quarantine').length + refusedSeqs.length;
      const quarantined = await consumeUntil(
        testConsumer(ctx.kafka),
        [topics.quarantine],
        (r) => r.length >= expectedQuarantine,
      );
      expect(quarantined).toHaveLength(expectedQuarantine);
      const refused = quarantined.filter(
        (r) => header(r, 'membrane.quarantine.code') === 'trust.batch-refused',
      );
      // One per refused batch that committed; none for the aborted one.
      expect(refused).toHaveLength(refusedSeqs.length);
      const inside = await Promise.all(
        refused.map(async (r: Received) => {
          const batch = await decodeBatch(new Decoder(r.message.value ?? Buffer.alloc(0)));
          const offsets = batch.records.map((x) => x.offset);
          // The record stands at the batch's last offset.
          expect(header(r, 'membrane.source.offset')).toBe(offsets[offsets.length - 1]);
          return batch.records.map((x) => Number(String(x.headers['x-test-seq'])));
        }),
      );
      expect(inside.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0))).toEqual(refusedSeqs);

      const expectedOutputs = others.filter((i) => orderFate(i).fate === 'output');
      const outputs = await consumeUntil(
        testConsumer(ctx.kafka),
        [topics.placed, topics.cancelled],
        (r) => r.length >= expectedOutputs.length,
      );
      const seqOfSource = new Map<string, number>();
      const inputs = await consumeUntil(
        testConsumer(ctx.kafka),
        [topics.input],
        (r) => r.length >= seq - abortedSeqs.length,
      );
      for (const r of inputs) {
        seqOfSource.set(`${r.partition}/${r.message.offset}`, Number(header(r, 'x-test-seq')));
      }
      const translated = outputs
        .map((r) =>
          seqOfSource.get(
            `${header(r, 'membrane.source.partition')}/${header(r, 'membrane.source.offset')}`,
          ),
        )
        .sort((a, b) => (a ?? 0) - (b ?? 0));
      expect(translated).toEqual(expectedOutputs);

      // A restart right after: nothing is quarantined again.
      await plain.send({ topic: topics.input, messages: take(3, 0) });
      await plain.disconnect();
      const after = (await admin.fetchTopicOffsets(topics.input)).reduce(
        (sum, p) => sum + Number(p.high),
        0,
      );
      await catchUpAndStop(spawnCli(['run'], env), committed, after);
      const again = await consumeUntil(
        testConsumer(ctx.kafka),
        [topics.quarantine],
        (r) => r.length >= expectedQuarantine,
      );
      expect(
        again.filter((r) => header(r, 'membrane.quarantine.code') === 'trust.batch-refused'),
      ).toHaveLength(refusedSeqs.length);

      // The operator's commands on them.
      const stats = await runCli(['quarantine', 'stats', '--json'], env);
      expect(stats.code, stats.stderr).toBe(0);
      expect(stats.stdout).toContain('trust.batch-refused');
      const list = await runCli(['quarantine', 'list', '--code', 'trust.batch-refused'], env);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout.split('\n').filter((l) => l.includes('batch-refused'))).toHaveLength(
        refusedSeqs.length,
      );
    });
  },
);
