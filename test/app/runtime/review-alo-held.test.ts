/**
 * Fresh-eyes review of at least once's commit protocol (commit 2638f28): attacks that held.
 * Each test pins one promise the review tried to break:
 * - the group's committed offsets never go back, whoever commits (zombies, revoked tasks,
 *   rejoins, ambiguous commits) — checked on every transaction the simulated broker commits,
 *   not only at the end;
 * - a task revoked (or stopped: SIGTERM) with a chunk in flight commits that chunk;
 * - a chunk that writes no state (only quarantine records, or only drops) still commits its
 *   input position, in the task's transaction.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Kafka, TopicMessages } from 'kafkajs';
import { AtLeastOnceTaskProducer } from '../../../src/adapters/kafka/task-ports.js';
import { createLogger } from '../../../src/app/logger.js';
import { Metrics } from '../../../src/app/metrics.js';
import type { InputPosition, TaskProducer, TopicRecords } from '../../../src/app/runtime/ports.js';
import { TaskManager } from '../../../src/app/runtime/task-manager.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { Broker } from '../../support/sim/broker.js';
import { runSchedule, scheduleArb } from '../../support/sim/schedule.js';
import type { Scheduler } from '../../support/sim/scheduler.js';
import { orderRecords, testPorts, testTask } from '../../support/tasks.js';

const INPUT = 'erp.orders';

let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await compileText(BASE_MAPPING);
});

/**
 * Every transaction the simulated broker commits is checked: no committed input offset moves
 * back. (The simulation's own checks see only the end: every partition committed to its end.)
 */
const wentBack: string[] = [];
{
  interface Txn {
    readonly offsets: Map<string, Map<string, number>>;
  }
  const view = (broker: Broker) =>
    broker as unknown as {
      committed: Map<string, number>;
      sched: Scheduler;
      end: (txn: Txn, commit: boolean) => void;
    };
  const end = view(Broker.prototype).end;
  view(Broker.prototype).end = function (this: Broker, txn: Txn, commit: boolean) {
    const self = view(this);
    if (commit)
      for (const [, offsets] of txn.offsets)
        for (const [tp, offset] of offsets) {
          const before = self.committed.get(tp);
          if (before !== undefined && offset < before)
            wentBack.push(`@${self.sched.now} ${tp.replace('\u0000', '/')}: ${before} → ${offset}`);
        }
    end.call(this, txn, commit);
  };
}

describe('at least once, attacks that held', () => {
  test('the committed offsets never go back, transaction by transaction (400 schedules, fixed seed)', async () => {
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(
        scheduleArb({ guarantee: 'at_least_once', kafkajsFaults: true, atLeastOnceRejoins: true }),
        async (schedule) => {
          wentBack.length = 0;
          const { failures, world } = await runSchedule(pipeline, schedule);
          runs += 1;
          expect(wentBack, world.summary()).toEqual([]);
          expect(failures, world.summary()).toEqual([]);
        },
      ),
      // A fixed seed: the same 400 schedules every run (simulation.test.ts draws new ones).
      { numRuns: 400, seed: 20261130 },
    );
    expect(runs).toBe(400);
  }, 120_000);

  test('a task stopped (SIGTERM) with a chunk in flight commits that chunk, through the real adapter', async () => {
    const kafka = new FakeKafka();
    const manager = new TaskManager({
      pipelines: [pipeline],
      context: {
        groupId: 'review',
        quarantineTopic: 'review.quarantine',
        guarantee: 'at_least_once',
        metrics: new Metrics(),
        logger: createLogger('silent'),
        now: () => new Date(),
        dedupWindow: 1000,
      },
      ports: testPorts(new GatedProducer(false), {
        createProducer: ({ transactionalId }) =>
          new AtLeastOnceTaskProducer(kafka as unknown as Kafka, transactionalId, 'review'),
      }),
      consumer: { pause: () => undefined, resume: () => undefined },
      retryMaxMs: 50,
      readoptAfterMs: 60_000,
      onFatal: () => undefined,
    });
    await manager.assign('m1', { [INPUT]: [0] });
    const adopting = manager.taskFor(INPUT, 0);
    if (adopting) await manager.adoption(adopting);
    const task = manager.taskFor(INPUT, 0);
    expect(task?.running).toBe(true);
    // The chunk's outputs are being sent when SIGTERM comes (the task's abort signal fires).
    const chunk = task?.exclusive(() => task.process(INPUT, orderRecords(0, 4)));
    await kafka.sending;
    const stopping = manager.stop();
    expect(task?.abort.signal.aborted).toBe(true);
    kafka.release();
    const outcome = await chunk;
    await stopping;
    // Committed: the state and the position went in the task's transaction.
    expect(outcome).toEqual({ committed: 4, failure: undefined });
    expect(kafka.log).toEqual([
      'outputs: 4 to sales.placed',
      'transaction: changelog review.orders.clocks',
      'transaction: offsets erp.orders/0 → 4',
      'transaction: commit',
    ]);
    expect(task?.closed).toBe(true);
  });

  test('a chunk of quarantine records only, or of drops only, commits its position with no state', async () => {
    const producer = new GatedProducer(false);
    const task = testTask(pipeline, testPorts(producer), { guarantee: 'at_least_once' });
    await task.adopt();
    // Quarantine only: two records that are not JSON.
    const bad = orderRecords(0, 2).map((r) => ({ ...r, value: Buffer.from('{"broken": ') }));
    expect(await task.process(INPUT, bad)).toEqual({ committed: 2, failure: undefined });
    // Translated: two orders (state: their clocks and IDs).
    expect(await task.process(INPUT, orderRecords(2, 4))).toEqual({
      committed: 2,
      failure: undefined,
    });
    // Drops only: the same two events redelivered upstream at offsets 4 and 5.
    const again = orderRecords(2, 4).map((r, i) => ({ ...r, offset: String(4 + i) }));
    expect(await task.process(INPUT, again)).toEqual({ committed: 2, failure: undefined });
    const [quarantine, translated, dropped] = producer.commits;
    expect(quarantine?.records.map((r) => [r.topic, r.state === true])).toEqual([
      ['membrane-test.quarantine', false],
    ]);
    expect(translated?.records.some((r) => r.state)).toBe(true);
    // Nothing to write at all: the transaction carries only the position.
    expect(dropped?.records).toEqual([]);
    expect(producer.positions).toEqual(['2', '4', '6']);
  });
});

/**
 * Just enough of a kafkajs client for the at-least-once adapter: an idempotent producer whose
 * first send waits until released, and a transactional one; what they write, in order.
 */
class FakeKafka {
  readonly log: string[] = [];
  readonly sending: Promise<void>;
  private signalSending: () => void = () => undefined;
  private readonly gate: Promise<void>;
  private open: () => void = () => undefined;

  constructor() {
    this.sending = new Promise<void>((resolve) => {
      this.signalSending = resolve;
    });
    this.gate = new Promise<void>((resolve) => {
      this.open = resolve;
    });
  }

  release(): void {
    this.open();
  }

  producer(options: { transactionalId?: string }) {
    const log = this.log;
    const connect = (): Promise<void> => Promise.resolve();
    const disconnect = (): Promise<void> => Promise.resolve();
    // A plain send (outside any transaction): kafkajs's idempotent producer ID.
    const sendBatch = async ({ topicMessages }: { topicMessages: TopicMessages[] }) => {
      this.signalSending();
      await this.gate;
      for (const { topic, messages } of topicMessages)
        log.push(`outputs: ${messages.length} to ${topic}`);
    };
    if (options.transactionalId === undefined) return { connect, disconnect, sendBatch };
    let begun = false;
    return {
      connect,
      disconnect,
      sendBatch,
      transaction: () => {
        const first = !begun;
        begun = true;
        return Promise.resolve({
          sendBatch: ({ topicMessages }: { topicMessages: TopicMessages[] }) => {
            for (const { topic } of topicMessages) log.push(`transaction: changelog ${topic}`);
            return Promise.resolve();
          },
          sendOffsets: ({
            topics,
          }: {
            topics: { topic: string; partitions: { partition: number; offset: string }[] }[];
          }) => {
            for (const { topic, partitions } of topics)
              for (const { partition, offset } of partitions)
                log.push(`transaction: offsets ${topic}/${partition} → ${offset}`);
            return Promise.resolve();
          },
          commit: () => {
            log.push('transaction: commit');
            return Promise.resolve();
          },
          // The empty transaction of init (the fence) is aborted: nothing to log.
          abort: () => {
            if (!first) log.push('transaction: abort');
            return Promise.resolve();
          },
        });
      },
    };
  }
}

/** Records every commit; the first one (if gated) waits until released. */
class GatedProducer implements TaskProducer {
  readonly commits: { records: readonly TopicRecords[]; position: InputPosition }[] = [];
  readonly positions: string[] = [];
  readonly reached: Promise<void>;
  private signalReached: () => void = () => undefined;
  private gate: Promise<void>;
  private open: () => void = () => undefined;

  constructor(gated = true) {
    this.reached = new Promise<void>((resolve) => {
      this.signalReached = resolve;
    });
    this.gate = gated
      ? new Promise<void>((resolve) => {
          this.open = resolve;
        })
      : Promise.resolve();
  }

  release(): void {
    this.open();
  }

  init(): Promise<void> {
    return Promise.resolve();
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    this.signalReached();
    await this.gate;
    this.commits.push({ records, position });
    this.positions.push(position.offset);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
