/**
 * Fresh-eyes review of at least once's commit protocol (commit 2638f28: the outputs through an
 * idempotent producer, acknowledged first; then the state and the input offsets in a
 * transaction of the task's own transactional ID). Each test here reproduces a finding that
 * is still OPEN: it asserts the behaviour as it is today, with the comment saying what it
 * should be. When the finding is fixed the test fails; turn its assertion round then.
 */
import kafkajs from 'kafkajs';
import { beforeAll, describe, expect, test } from 'vitest';
import type { InputPosition, TaskProducer, TopicRecords } from '../../../src/app/runtime/ports.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { runSchedule, type Schedule } from '../../support/sim/schedule.js';
import { OUTPUT } from '../../support/sim/world.js';
import { testPorts, testTask } from '../../support/tasks.js';

const { KafkaJSNumberOfRetriesExceeded, KafkaJSRequestTimeoutError } = kafkajs;

let pipeline: Pipeline;
let twoTopics: Pipeline;

beforeAll(async () => {
  pipeline = await compileText(BASE_MAPPING);
  // One mapping, one source system, two input topics (co-partitioned: one task reads both).
  twoTopics = await compileText(
    BASE_MAPPING.replace('topics: [erp.orders]', 'topics: [erp.orders, erp.orders-eu]'),
  );
});

describe('open findings of the at-least-once review', () => {
  // FINDING 1 (medium; both guarantees, at least once twice the window). `Task.adopt` checks
  // that the task is still assigned before `producer.init()`, never inside it; but `init()` is
  // a connect first (at least once two: the outputs' idempotent producer, then the task's
  // transactional one — metadata, an idempotent InitProducerId each) and only then the
  // InitProducerId of the task's transactional ID, which fences. A task revoked during the
  // connects still sends it: it fences the partition's new owner on another member. Here: n1
  // rejoins, loses partition 1 to n2 at 23124 while its re-adoption of it is connecting; its
  // InitProducerId (epoch 2) goes out at 23189, after n2's (epoch 1): n2's first chunk — its
  // outputs already sent, at least once — is refused at 23200, and n2 adopts the task again
  // only after the next rebalance, 9 s later. The simulation's own check ("initialised … for a
  // task not in its current assignment") fires for the at-least-once producer only because
  // the sim checks at the start of the transactional init, which at least once comes after
  // the outputs producer's connect; `SIM_RUNS=100000` fails about once in 5,000–10,000
  // at-least-once schedules, so the default run flakes now and then. Fix: give `init` the
  // task's abort signal (or split it into connect and fence) and check it right before the
  // InitProducerId; and have the sim check the assignment when the InitProducerId is sent.
  test('a task revoked while its at-least-once producer connects still fences the new owner', async () => {
    const schedule: Schedule = {
      world: {
        seed: 0,
        partitions: 3,
        guarantee: 'at_least_once',
        assignor: 'range',
        maxRecords: 1,
        maxBatch: 2,
        dedupWindow: 1000,
        staleAfterRebalance: false,
      },
      nodes: 2,
      steps: [
        { at: 0, action: { type: 'freeze-at', node: 7, point: 'produce', ms: 10361 } },
        { at: 0, action: { type: 'freeze-rejoin', node: 0, ms: 10001 } },
        { at: 1053, action: { type: 'transient', node: 0, point: 'offsets', times: 2 } },
        { at: 11716, action: { type: 'produce', kinds: ['good'] } },
        { at: 22106, action: { type: 'produce', kinds: ['good', 'good', 'good'] } },
        { at: 23085, action: { type: 'refuse-sync', node: 0, join: true } },
      ],
      linger: 0,
    };
    const { failures, world } = await runSchedule(pipeline, schedule);
    // Should be: no failure, no request fenced but the zombie's.
    expect(failures).toEqual([
      '@23135 n1: initialised membrane-sim.orders.1 for a task not in its current assignment (would fence the owner)',
    ]);
    expect(world.broker.stats.fencedRequests).toBe(2);
  });

  // FINDING 2 (low; at least once only, not new with 2638f28). The promise "a record translated
  // once never gets a clock at or below one its aggregate already carried on the outputs"
  // rests on a re-translation repeating the same records in the same order. A task reads
  // every input topic of its mapping (co-partitioned), each in its own order; the topics of a
  // mapping share the mapping's source system, so their records advance the same clock
  // component of an aggregate. When a chunk of topic A sent its outputs but its transaction
  // failed, the re-adopted task may take topic B's batch first (it was waiting for the
  // adoption, while A's partition must be fetched again): B's record, translated once, gets
  // the clock A's output already carries. Fix: at least once, write the chunk's clocks (they
  // only grow; a gap is harmless) before the outputs and the emitted IDs after them — or say
  // in the README that the clock promise holds for aggregates whose records come on one topic.
  test('two input topics: a record translated once gets a clock an output already carries', async () => {
    const producer = new AtLeastOnceFake();
    const ports = testPorts(producer, {
      changelog: {
        restore: (_topic, _partition, apply) => {
          for (const r of producer.changelog) apply(r.key, r.value, 0);
          return Promise.resolve({ records: producer.changelog.length });
        },
      },
    });
    const first = testTask(twoTopics, ports, { guarantee: 'at_least_once' });
    await first.adopt();
    // Topic A's chunk: the output is acknowledged, the transaction's answer never comes.
    producer.failStateNext = new KafkaJSNumberOfRetriesExceeded(
      new KafkaJSRequestTimeoutError('Request EndTxn timed out'),
      { retryCount: 5, retryTime: 1000 },
    );
    const a = await first.process('erp.orders', [order('a-1', 0)]);
    expect(a.failure?.kind).toBe('uncertain');
    await first.close('dirty');
    // Adopted again (this member or another): topic B's batch first, then A's again.
    const second = testTask(twoTopics, ports, { guarantee: 'at_least_once' });
    await second.adopt();
    expect((await second.process('erp.orders-eu', [order('b-1', 0)])).failure).toBeUndefined();
    expect((await second.process('erp.orders', [order('a-1', 0)])).failure).toBeUndefined();
    // What the outputs carry, in order: a-1 (erp 1), b-1 (erp 1, translated once), a-1 again
    // (erp 2). Should be: b-1's above 1.
    expect(producer.outputs).toEqual([
      { from: 'erp.orders', erp: 1 },
      { from: 'erp.orders-eu', erp: 1 },
      { from: 'erp.orders', erp: 2 },
    ]);
  });
});

/** An upstream order of aggregate o-1 from `topic`'s offset `offset`. */
function order(event: string, offset: number) {
  return {
    key: Buffer.from('o-1'),
    value: Buffer.from(JSON.stringify({ event_id: event, order_id: 'o-1', total: '1.00' })),
    headers: {},
    offset: String(offset),
    timestamp: String(Date.now()),
  };
}

/** At least once as the adapter does it: outputs first (always written), then the state. */
class AtLeastOnceFake implements TaskProducer {
  readonly outputs: { from: string; erp: number }[] = [];
  readonly changelog: { key: string; value: string | null }[] = [];
  failStateNext: Error | undefined;

  init(): Promise<void> {
    return Promise.resolve();
  }

  commit(records: readonly TopicRecords[], _position: InputPosition): Promise<void> {
    for (const { topic, messages, state } of records) {
      if (state || topic !== OUTPUT) continue;
      for (const m of messages) {
        const clock = JSON.parse(String(m.headers?.['membrane.vclock'])) as { erp: number };
        this.outputs.push({ from: String(m.headers?.['membrane.source.topic']), erp: clock.erp });
      }
    }
    const failure = this.failStateNext;
    this.failStateNext = undefined;
    if (failure) return Promise.reject(failure);
    for (const { messages, state } of records)
      if (state)
        for (const m of messages)
          this.changelog.push({
            key: String(m.key),
            value: m.value === null ? null : String(m.value),
          });
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
