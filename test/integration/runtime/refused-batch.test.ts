import { CompressionTypes } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { consumeUntil, testConsumer } from '../../support/kafka.js';
import { decodeBatch, Decoder } from '../../support/kafka-wire.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderFate, orderMessages, useOrderTopics } from '../../support/orders.js';
import { header } from '../../support/runtime.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';

const BEFORE = 10;
const IN_BATCH = 30;
const AFTER = 10;
const TOTAL = BEFORE + IN_BATCH + AFTER;

/**
 * A compressed batch membrane will not decode (here: more records than
 * MEMBRANE_MAX_BATCH_RECORDS; in the wild, one declaring millions, or decompressing to more than
 * MEMBRANE_MAX_BATCH_BYTES). It used to fail every fetch of its partition, so membrane stopped
 * on every restart until an operator moved the offset: a producer could stop it with 65 KB.
 * Now it is quarantined whole, byte for byte, as one record (trust.batch-refused) and committed
 * past; the records around it are translated as usual.
 */
describe('membrane run and a batch it will not decode', () => {
  const ctx = useOrderTopics(1);

  it('quarantines the batch whole, byte for byte, commits past it and goes on', async () => {
    const topics = ctx.topics();
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, BEFORE) });
    const batch = orderMessages(BEFORE, IN_BATCH);
    await producer.send({
      topic: topics.input,
      compression: CompressionTypes.GZIP,
      messages: batch,
    });
    await producer.send({ topic: topics.input, messages: orderMessages(BEFORE + IN_BATCH, AFTER) });
    await producer.disconnect();

    const env = ctx.env({
      PATH: process.env['PATH'],
      LOG_LEVEL: 'warn',
      MEMBRANE_MAX_BATCH_RECORDS: String(IN_BATCH - 1),
    });
    const membrane = spawnCli(['run'], env);
    await catchUpAndStop(
      membrane,
      committedOf(() => ctx.admin(), topics.group, topics.input),
      TOTAL,
    );

    const around = [
      ...Array.from({ length: BEFORE }, (_, i) => i),
      ...Array.from({ length: AFTER }, (_, i) => BEFORE + IN_BATCH + i),
    ];
    const quarantinedAround = around.filter((i) => orderFate(i).fate === 'quarantine').length;
    const outputsAround = around.filter((i) => orderFate(i).fate === 'output').length;
    const quarantined = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.quarantine],
      (r) => r.length >= quarantinedAround + 1,
      60_000,
    );
    expect(quarantined).toHaveLength(quarantinedAround + 1);
    const refused = quarantined.filter(
      (r) => header(r, 'membrane.quarantine.code') === 'trust.batch-refused',
    );
    expect(refused).toHaveLength(1);
    const record = refused[0];
    if (record === undefined) throw new Error('no trust.batch-refused record');
    expect(header(record, 'membrane.quarantine.stage')).toBe('trust');
    expect(header(record, 'membrane.source.offset')).toBe(String(BEFORE + IN_BATCH - 1));
    expect(record.message.key).toBeNull();
    // Byte for byte: its value is the batch as the broker stored it, which decodes to every
    // record the producer sent in it.
    const inside = await decodeBatch(new Decoder(record.message.value ?? Buffer.alloc(0)));
    expect(inside.records.map((r) => r.offset)).toEqual(batch.map((_, i) => String(BEFORE + i)));
    expect(inside.records.map((r) => r.value?.toString())).toEqual(
      batch.map((m) => m.value?.toString()),
    );
    expect(inside.records.map((r) => String(r.headers['x-test-seq']))).toEqual(
      batch.map((_, i) => String(BEFORE + i)),
    );
    // Nothing of the batch was translated; everything around it was, once.
    const outputs = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.placed, topics.cancelled],
      (r) => r.length >= outputsAround,
      60_000,
    );
    expect(
      outputs.map((r) => Number(header(r, 'membrane.source.offset'))).sort((a, b) => a - b),
    ).toEqual(around.filter((i) => orderFate(i).fate === 'output'));

    // `show` says what the value is and never decodes it as a record (its first byte, of the
    // base offset, is Avro's magic byte).
    const ref = `${String(record.partition)}:${record.message.offset}`;
    const shown = await runCli(['quarantine', 'show', ref], env);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(
      `Kafka record batch (${String(record.message.value?.length)} bytes, as stored; not decoded)`,
    );
    expect(shown.stdout).not.toMatch(/Avro/);

    // A replay leaves it for the operator: its value is a batch, not one record to translate.
    const replayed = await runCli(['quarantine', 'replay', '--code', 'trust.batch-refused'], env);
    expect(replayed.code, replayed.stderr).toBe(2);
    expect(replayed.stdout + replayed.stderr).toMatch(
      /a batch that could not be decoded into records/,
    );
    expect(replayed.stdout).toMatch(/0 replayed.*1 skipped/);

    // `unpack`, with the limit raised past the batch, splits it into its records as quarantine
    // records of their own, at their own offsets; replayed, they translate as membrane would
    // have translated them, and the rest fail again as they would have.
    const refusedAgain = await runCli(['quarantine', 'unpack', '--all'], env);
    expect(refusedAgain.code, refusedAgain.stderr).toBe(2);
    expect(refusedAgain.stdout).toMatch(/cannot be decoded: .*30 records, more than 29/);
    const unpacked = await runCli(
      ['quarantine', 'unpack', ref, '--max-batch-records', String(IN_BATCH)],
      env,
    );
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(unpacked.stdout).toContain(
      `${ref}  unpacked into ${IN_BATCH} record(s), offsets ${BEFORE}–${BEFORE + IN_BATCH - 1}`,
    );
    expect(unpacked.stdout).toContain(
      `1 refused batch(es) unpacked into ${IN_BATCH} quarantine record(s) (trust.batch-unpacked), 0 undecodable, 0 skipped`,
    );
    // Once: the batch is resolved by it.
    const again = await runCli(['quarantine', 'unpack', '--all'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('0 refused batch(es) unpacked into 0 quarantine record(s)');

    const inBatch = Array.from({ length: IN_BATCH }, (_, i) => BEFORE + i);
    const outputsInBatch = inBatch.filter((i) => orderFate(i).fate === 'output');
    const failingInBatch = inBatch.filter((i) => orderFate(i).fate === 'quarantine');
    const replayedBatch = await runCli(
      ['quarantine', 'replay', '--code', 'trust.batch-unpacked'],
      env,
    );
    expect(replayedBatch.code, replayedBatch.stderr).toBe(failingInBatch.length > 0 ? 2 : 0);
    expect(replayedBatch.stdout).toMatch(
      new RegExp(
        `^${outputsInBatch.length} replayed, \\d+ dropped by the mapping, ${failingInBatch.length} still failing`,
        'm',
      ),
    );
    const allOutputs = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.placed, topics.cancelled],
      (r) => r.length >= outputsAround + outputsInBatch.length,
      60_000,
    );
    const fromBatch = allOutputs.filter((r) => header(r, 'membrane.replay.of') !== undefined);
    expect(
      fromBatch.map((r) => Number(header(r, 'membrane.source.offset'))).sort((a, b) => a - b),
    ).toEqual(outputsInBatch);
  });
});

/**
 * The group's position inside such a batch: membrane read part of it under higher limits (or
 * an operator moved the offset), then restarted with limits the batch exceeds. Its records
 * before the position were processed already; the quarantine record says so, so that an
 * operator recovering the batch leaves them out.
 */
describe('membrane run and a batch it will not decode, from a position inside it', () => {
  const ctx = useOrderTopics(1);

  it('says which of its records were processed before it was refused', async () => {
    const topics = ctx.topics();
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, BEFORE) });
    await producer.send({
      topic: topics.input,
      compression: CompressionTypes.GZIP,
      messages: orderMessages(BEFORE, IN_BATCH),
    });
    await producer.send({ topic: topics.input, messages: orderMessages(BEFORE + IN_BATCH, AFTER) });
    await producer.disconnect();
    const position = BEFORE + 15;
    await ctx.admin().setOffsets({
      groupId: topics.group,
      topic: topics.input,
      partitions: [{ partition: 0, offset: String(position) }],
    });

    const env = ctx.env({
      PATH: process.env['PATH'],
      LOG_LEVEL: 'warn',
      MEMBRANE_MAX_BATCH_RECORDS: String(IN_BATCH - 1),
    });
    const membrane = spawnCli(['run'], env);
    await catchUpAndStop(
      membrane,
      committedOf(() => ctx.admin(), topics.group, topics.input),
      TOTAL,
    );
    const after = Array.from({ length: AFTER }, (_, i) => BEFORE + IN_BATCH + i);
    const quarantinedAfter = after.filter((i) => orderFate(i).fate === 'quarantine').length;
    const quarantined = await consumeUntil(
      testConsumer(ctx.kafka),
      [topics.quarantine],
      (r) => r.length >= quarantinedAfter + 1,
      60_000,
    );
    expect(quarantined).toHaveLength(quarantinedAfter + 1);
    const refused = quarantined.find(
      (r) => header(r, 'membrane.quarantine.code') === 'trust.batch-refused',
    );
    if (refused === undefined) throw new Error('no trust.batch-refused record');
    const issues = JSON.parse(header(refused, 'membrane.quarantine.issues') ?? '[]') as {
      message: string;
    }[];
    expect(issues[0]?.message).toMatch(
      new RegExp(
        `^the gzip batch at offsets ${BEFORE}–${BEFORE + IN_BATCH - 1} could not be decoded .*; its records before offset ${position} were processed before it was refused, only ${position}–${BEFORE + IN_BATCH - 1} were not$`,
      ),
    );
    // `unpack` leaves those out.
    const unpacked = await runCli(
      ['quarantine', 'unpack', '--code', 'trust.batch-refused', '--max-batch-records', '1000'],
      env,
    );
    expect(unpacked.code, unpacked.stderr).toBe(0);
    expect(unpacked.stdout).toContain(
      `unpacked into ${BEFORE + IN_BATCH - position} record(s), offsets ${position}–${BEFORE + IN_BATCH - 1}`,
    );
  });
});
