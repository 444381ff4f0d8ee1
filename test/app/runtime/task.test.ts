import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { stateKey } from '../../../src/app/runtime/state.js';
import { decodeQuarantine } from '../../../src/adapters/quarantine/codec.js';
import { MembraneError } from '../../../src/core/errors.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { orderRecords, RecordingProducer, testPorts, testTask } from '../../support/tasks.js';

// kafkajs's own protocol errors, as its client throws them.
const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error;
};
const INVALID_PRODUCER_EPOCH = 47;
const REQUEST_TIMED_OUT = 7;
const OPERATION_NOT_ATTEMPTED = 55;

/** The pipeline, but the `n`th record processed throws `error` (once). */
function failingAt(pipeline: Pipeline, n: number, error: unknown): Pipeline {
  let seen = 0;
  return new Proxy(pipeline, {
    get(target, property, receiver) {
      if (property === 'process') {
        return (...args: Parameters<Pipeline['process']>) => {
          seen += 1;
          if (seen === n)
            return Promise.reject(error instanceof Error ? error : new Error(String(error)));
          return target.process(...args);
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
}

function ids(producer: RecordingProducer, topic = 'sales.placed'): string[] {
  return producer.commits.flatMap((c) =>
    c.records
      .filter((r) => r.topic === topic)
      .flatMap((r) => r.messages.map((m) => String(m.headers?.['membrane.id']))),
  );
}

describe('a task', () => {
  it('rolls its state back when the pipeline throws mid-chunk, so nothing is later dropped as a duplicate', async () => {
    const producer = new RecordingProducer();
    const rejected = new MembraneError('registry.rejected', 'the registry answered 401');
    const task = testTask(
      failingAt(await compileText(BASE_MAPPING), 4, rejected),
      testPorts(producer),
    );
    await task.adopt();
    const records = orderRecords(0, 10);
    const failed = await task.process('erp.orders', records);
    expect(failed.committed).toBe(0);
    expect(failed.failure?.kind).toBe('transient');
    expect(failed.failure?.error.code).toBe('registry.rejected');
    expect(producer.commits).toEqual([]);
    // Redelivered: every record translated, none dropped as a duplicate of the failed try.
    const again = await task.process('erp.orders', records);
    expect(again).toEqual({ committed: 10, failure: undefined });
    expect(ids(producer)).toHaveLength(10);
    // Clocks start at 1: the failed try's ticks never happened.
    const changelog = producer.commits[0]?.records.find((r) => r.topic === task.changelog);
    expect(changelog?.messages.find((m) => m.key === stateKey.clock('o-0'))?.value).toBe(
      '{"erp":2}', // o-0 has records 0 and 7
    );
  });

  it('treats anything but an infrastructure error from the pipeline as a bug: fatal, rolled back', async () => {
    const producer = new RecordingProducer();
    const task = testTask(
      failingAt(await compileText(BASE_MAPPING), 2, new TypeError('boom')),
      testPorts(producer),
    );
    await task.adopt();
    const outcome = await task.process('erp.orders', orderRecords(0, 5));
    expect(outcome.committed).toBe(0);
    expect(outcome.failure?.kind).toBe('fatal');
    expect(outcome.failure?.error.code).toBe('runtime.bug');
    expect(task.stateView.clocks.current('o-0')).toBeUndefined();
  });

  it('is migrated when its commit is fenced: state rolled back, nothing committed', async () => {
    const producer = new RecordingProducer();
    producer.failNext = createErrorFromCode(INVALID_PRODUCER_EPOCH);
    const task = testTask(await compileText(BASE_MAPPING), testPorts(producer));
    await task.adopt();
    const outcome = await task.process('erp.orders', orderRecords(0, 5));
    expect(outcome.committed).toBe(0);
    expect(outcome.failure?.kind).toBe('migrated');
    expect(task.stateView.clocks.current('o-0')).toBeUndefined();
    expect(task.stateView.dedup.size).toBe(0);
  });

  it('calls a commit that failed transiently uncertain: it may have happened, so the task must be adopted again', async () => {
    const producer = new RecordingProducer();
    producer.failNext = createErrorFromCode(REQUEST_TIMED_OUT);
    const task = testTask(await compileText(BASE_MAPPING), testPorts(producer));
    await task.adopt();
    const outcome = await task.process('erp.orders', orderRecords(0, 5));
    expect(outcome.committed).toBe(0);
    expect(outcome.failure?.kind).toBe('uncertain');
    expect(task.stateView.clocks.current('o-0')).toBeUndefined();
  });

  it('stops membrane (fatal, one sentence) when a commit failed because an output topic is gone', async () => {
    const producer = new RecordingProducer();
    producer.failNext = createErrorFromCode(OPERATION_NOT_ATTEMPTED);
    const task = testTask(
      await compileText(BASE_MAPPING),
      testPorts(producer, {
        topics: {
          missing: (topics) => Promise.resolve(topics.filter((t) => t === 'sales.placed')),
        },
      }),
    );
    await task.adopt();
    const outcome = await task.process('erp.orders', orderRecords(0, 5));
    expect(outcome.committed).toBe(0);
    expect(outcome.failure?.kind).toBe('fatal');
    expect(outcome.failure?.error.code).toBe('kafka.topic-missing');
    expect(outcome.failure?.error.message).toMatch(
      /^Topic sales\.placed that membrane writes to does not exist/,
    );
  });

  it('never writes again once closed dirty', async () => {
    const producer = new RecordingProducer();
    const task = testTask(await compileText(BASE_MAPPING), testPorts(producer));
    await task.adopt();
    await task.close('dirty');
    expect(producer.closed).toBe(true);
    const outcome = await task.process('erp.orders', orderRecords(0, 5));
    expect(outcome.failure?.kind).toBe('migrated');
    expect(producer.commits).toEqual([]);
    await expect(task.adopt()).rejects.toMatchObject({ kind: 'migrated' });
  });

  it('adopts: fences first, then restores its changelog and learns where the inputs are committed', async () => {
    const order: string[] = [];
    const producer = new RecordingProducer();
    producer.init = () => {
      order.push('init');
      return Promise.resolve();
    };
    const task = testTask(
      await compileText(BASE_MAPPING),
      testPorts(producer, {
        changelog: {
          restore: (_topic, partition, apply, progress) => {
            order.push('restore');
            apply(stateKey.clock('o-1'), '{"erp":4}', 0);
            progress.set(partition, 1n);
            return Promise.resolve({ records: 1 });
          },
        },
        offsets: {
          committed: () => {
            order.push('offsets');
            return Promise.resolve(new Map([['erp.orders', 3n]]));
          },
        },
      }),
    );
    await task.adopt();
    expect(order).toEqual(['init', 'restore', 'offsets']);
    expect(task.running).toBe(true);
    expect(task.stateView.clocks.current('o-1')).toEqual({ erp: 4 });
    expect(task.alreadyCommitted('erp.orders', orderRecords(0, 6))).toBe(3);
  });

  it('quarantines a refused batch saying where its unprocessed records begin when the group was inside it', async () => {
    // The group committed up to `committed`; the batch of offsets 5–9 comes as one stand-in
    // record at its last offset (kafkajs keeps it: 9 is past the position).
    const messageFor = async (committed: bigint): Promise<string | undefined> => {
      const producer = new RecordingProducer();
      const task = testTask(
        await compileText(BASE_MAPPING),
        testPorts(producer, {
          offsets: { committed: () => Promise.resolve(new Map([['erp.orders', committed]])) },
        }),
      );
      await task.adopt();
      const [record] = orderRecords(9, 10);
      if (!record) throw new Error('no record');
      const refusedBatch = { firstOffset: '5', lastOffset: '9', compression: 1, reason: 'r' };
      expect(await task.process('erp.orders', [{ ...record, refusedBatch }])).toEqual({
        committed: 1,
        failure: undefined,
      });
      const quarantined = producer.commits[0]?.records.find(
        (r) => r.topic === 'membrane-test.quarantine',
      )?.messages[0];
      if (!quarantined) throw new Error('nothing quarantined');
      const { entry } = decodeQuarantine({
        key: quarantined.key as Buffer | null,
        value: quarantined.value as Buffer | null,
        headers: quarantined.headers ?? {},
      });
      expect(entry.issues[0]?.code).toBe('trust.batch-refused');
      return entry.issues[0]?.message;
    };
    expect(await messageFor(7n)).toMatch(
      /; its records before offset 7 were processed before it was refused, only 7–9 were not$/,
    );
    // At or before its first offset: none of it was processed, and the message says nothing.
    for (const committed of [5n, 3n])
      expect(await messageFor(committed)).toMatch(/MEMBRANE_MAX_BATCH_BYTES\)$/);
  });

  it('ends a chunk and commits when its time budget is spent, and takes the rest next', async () => {
    const producer = new RecordingProducer();
    const task = testTask(await compileText(BASE_MAPPING), testPorts(producer));
    await task.adopt();
    const records = orderRecords(0, 200);
    // A spent budget: the chunk stops after its first record (never before: it always makes
    // progress) and commits it.
    expect(await task.process('erp.orders', records, 0)).toEqual({
      committed: 1,
      failure: undefined,
    });
    expect(await task.process('erp.orders', records.slice(1))).toEqual({
      committed: 199,
      failure: undefined,
    });
    expect(producer.commits.map((c) => c.position.offset)).toEqual(['1', '200']);
    expect(ids(producer)).toHaveLength(200);
  });
});
