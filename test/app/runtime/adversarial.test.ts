/**
 * Adversarial review of the runtime (TaskManager, Task, TaskState) against fake ports that
 * keep just enough of Kafka to tell right from wrong: producer epochs (an InitProducerId fences
 * every earlier epoch of the transactional ID), one changelog partition, committed offsets,
 * the output records. The first group are the bugs this review found (each comment gives the
 * interleaving and the fix; each test failed before it); the second, interleavings that were
 * tried and held.
 */
import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/app/logger.js';
import { Metrics } from '../../../src/app/metrics.js';
import { TaskFailure } from '../../../src/app/runtime/failures.js';
import { BatchLoop, type BatchControl } from '../../../src/app/runtime/loop.js';
import type {
  Clock,
  ConsumerPort,
  InputPosition,
  TaskPorts,
  TaskProducer,
  TopicRecords,
} from '../../../src/app/runtime/ports.js';
import { stateKey, TaskState } from '../../../src/app/runtime/state.js';
import { TaskManager } from '../../../src/app/runtime/task-manager.js';
import type { Task } from '../../../src/app/runtime/task.js';
import { MembraneError } from '../../../src/core/errors.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { orderRecords } from '../../support/tasks.js';

const { Kafka, KafkaJSNumberOfRetriesExceeded, KafkaJSRequestTimeoutError, logLevel } = kafkajs;
const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error;
};
const INVALID_PRODUCER_EPOCH = 47;

const INPUT = 'erp.orders';
const OUTPUT = 'sales.placed';

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

function deferred(): Deferred {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** kafkajs gave up on a request whose answer never came (it may have been applied). */
function requestTimedOut(what: string): Error {
  return new KafkaJSNumberOfRetriesExceeded(
    new KafkaJSRequestTimeoutError(`Request ${what} timed out`),
    { retryCount: 5, retryTime: 1000 },
  );
}

/** What the fakes keep of a Kafka cluster, for partition 0 of one mapping. */
class FakeCluster {
  readonly epochs = new Map<string, number>();
  readonly changelog: { key: string; value: string | null; timestamp: number }[] = [];
  readonly committed = new Map<string, bigint>();
  readonly outputs: { topic: string; id: string }[] = [];
  readonly producers: FakeProducer[] = [];
  /** The next commit fails with this error, writing nothing. */
  failNext: Error | undefined;
  /**
   * The next commit writes its changelog records but not the others, then fails: one produce
   * request of an at-least-once send succeeded (the changelog partition's leader acked) while
   * another ran out of retries (the output partition's leader was moving).
   */
  partialNext = false;
  /** Each offset fetch (OffsetFetch) waits for the next of these, while there are any. */
  readonly offsetGates: Promise<void>[] = [];
  /** Hooks for the `n`th producer made (0-based): its init or close waits for the gate. */
  readonly initGates = new Map<number, Promise<void>>();
  readonly closeGates = new Map<number, Promise<void>>();
}

class FakeProducer implements TaskProducer {
  epoch = -1;
  inits = 0;
  closed = false;
  private readonly cluster: FakeCluster;
  private readonly id: string;
  private readonly atLeastOnce: boolean;
  private readonly index: number;

  constructor(
    cluster: FakeCluster,
    id: string,
    guarantee: 'exactly_once' | 'at_least_once' = 'exactly_once',
  ) {
    this.cluster = cluster;
    this.id = id;
    this.atLeastOnce = guarantee === 'at_least_once';
    this.index = cluster.producers.length;
    cluster.producers.push(this);
  }

  async init(): Promise<void> {
    this.inits += 1;
    // kafkajs's InitProducerId, possibly still being retried inside kafkajs.
    await this.cluster.initGates.get(this.index);
    const epoch = (this.cluster.epochs.get(this.id) ?? -1) + 1;
    this.cluster.epochs.set(this.id, epoch);
    this.epoch = epoch;
  }

  private write(records: readonly TopicRecords[]): void {
    for (const { topic, messages } of records) {
      const changelog = topic.endsWith('.clocks');
      for (const m of messages) {
        if (changelog)
          this.cluster.changelog.push({
            key: String(m.key),
            value: m.value === null ? null : String(m.value),
            timestamp: Date.now(),
          });
        else this.cluster.outputs.push({ topic, id: String(m.headers?.['membrane.id']) });
      }
    }
  }

  commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    const cluster = this.cluster;
    // At least once, the outputs go first, outside the transaction: written even when the
    // transaction of the state and the offsets is then fenced or fails.
    const outside = this.atLeastOnce ? records.filter((r) => r.state !== true) : [];
    const inside = this.atLeastOnce ? records.filter((r) => r.state === true) : records;
    const partial = cluster.partialNext;
    cluster.partialNext = false;
    if (partial) {
      // A send that failed part-way: at least once some outputs were written, never the state.
      this.write(outside);
      return Promise.reject(requestTimedOut('Produce'));
    }
    this.write(outside);
    if (cluster.epochs.get(this.id) !== this.epoch)
      return Promise.reject(createErrorFromCode(INVALID_PRODUCER_EPOCH));
    const failure = cluster.failNext;
    cluster.failNext = undefined;
    if (failure) return Promise.reject(failure);
    this.write(inside);
    cluster.committed.set(`${position.topic}/${position.partition}`, BigInt(position.offset));
    return Promise.resolve();
  }

  async close(): Promise<void> {
    await this.cluster.closeGates.get(this.index);
    this.closed = true;
  }
}

/** Timers that fire at once (backoffs): the tests wait on conditions, not on time. */
const immediateClock: Clock = {
  now: () => Date.now(),
  sleep: (_ms, signal) =>
    signal?.aborted ? Promise.reject(signal.reason as Error) : Promise.resolve(),
};

function fakePorts(cluster: FakeCluster, clock: Clock = immediateClock): TaskPorts {
  return {
    createProducer: ({ guarantee, transactionalId }) =>
      new FakeProducer(cluster, transactionalId, guarantee),
    offsets: {
      committed: async (topics, partition) => {
        await cluster.offsetGates.shift();
        return new Map(
          topics.flatMap((t) => {
            const offset = cluster.committed.get(`${t}/${partition}`);
            return offset === undefined ? [] : [[t, offset] as const];
          }),
        );
      },
    },
    topics: { missing: () => Promise.resolve([]) },
    changelog: {
      restore: (_topic, partition, apply, progress) => {
        let records = 0;
        for (let i = Number(progress.get(partition) ?? 0n); i < cluster.changelog.length; i++) {
          const r = cluster.changelog[i];
          if (r) apply(r.key, r.value, r.timestamp);
          progress.set(partition, BigInt(i + 1));
          records += 1;
        }
        return Promise.resolve({ records });
      },
    },
    clock,
  };
}

const quietConsumer: ConsumerPort = { pause: () => undefined, resume: () => undefined };

let pipeline: Pipeline;
const managers: TaskManager[] = [];

beforeAll(async () => {
  pipeline = await compileText(BASE_MAPPING);
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
});

function newManager(
  cluster: FakeCluster,
  options: {
    guarantee?: 'exactly_once' | 'at_least_once';
    consumer?: ConsumerPort;
    readoptAfterMs?: number;
    clock?: Clock;
  } = {},
): TaskManager {
  const manager = new TaskManager({
    pipelines: [pipeline],
    context: {
      groupId: 'adv',
      quarantineTopic: 'adv.quarantine',
      guarantee: options.guarantee ?? 'exactly_once',
      metrics: new Metrics(),
      logger: createLogger('silent'),
      now: () => new Date(),
      dedupWindow: 1000,
    },
    ports: fakePorts(cluster, options.clock),
    consumer: options.consumer ?? quietConsumer,
    retryMaxMs: 50,
    readoptAfterMs: options.readoptAfterMs ?? 60_000,
    onFatal: () => undefined,
    random: () => 0.5,
  });
  managers.push(manager);
  return manager;
}

/** Waits (macrotask by macrotask) until `condition` holds; fails after 2,000 turns. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; !condition(); turn++) {
    if (turn > 2_000) throw new Error('condition never held');
    await new Promise<void>((resolve) => {
      setImmediate(resolve);
    });
  }
}

async function running(manager: TaskManager): Promise<Task> {
  let task: Task | undefined;
  await until(() => {
    task = manager.taskFor(INPUT, 0);
    return task?.running === true;
  });
  return task as Task;
}

const uncertain = (): TaskFailure =>
  new TaskFailure(
    'uncertain',
    new MembraneError('kafka.transient', 'Committing failed: request timed out', {
      retriable: true,
    }),
  );

describe('bugs an adversarial review found, fixed', () => {
  // BUG 1 (fixed: the manager and bootstrap's consumer wrappers catch). kafkajs's consumer, when it crashes with `restart: true`, disconnects first
  // (consumer/index.js onCrash → disconnect → stop: `consumerGroup = null`) and starts a new
  // consumer group only `retryTime` later; during that window, and after `consumer.disconnect()`
  // at shutdown, `consumer.pause()`/`consumer.resume()` throw "Consumer group was not
  // initialized". The task manager calls `consumer.resume` from detached promise callbacks
  // (readopt's `void this.adoption(fresh).then(...)`, the migrated path's `void sleep().then(...)`):
  // the throw becomes an unhandled rejection, which kills Node 20 with a stack trace (no
  // handler is installed) — not one sentence, and the exit code is not membrane's. The trigger
  // is common: the broker trouble that makes a commit uncertain also crashes the consumer.
  // The ConsumerPort below is wired exactly as bootstrap.ts wires it, to a real kafkajs consumer
  // in the state its crash leaves it in (no consumer group).
  test('an uncertain commit re-adopted while the kafkajs consumer is restarting after a crash raises no unhandled rejection', async () => {
    const kafka = new Kafka({ brokers: ['127.0.0.1:9'], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: 'adv' });
    const port: ConsumerPort = {
      pause: (topic, partitions) => {
        consumer.pause([{ topic, partitions: [...partitions] }]);
      },
      resume: (topic, partitions) => {
        consumer.resume([{ topic, partitions: [...partitions] }]);
      },
    };
    const manager = newManager(new FakeCluster(), { consumer: port });
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    const rejections: unknown[] = [];
    const previous = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    const record = (reason: unknown): void => {
      rejections.push(reason);
    };
    process.on('unhandledRejection', record);
    try {
      // The loop's failure path for an uncertain commit, while the consumer is down.
      manager.pausedFor(INPUT, 0);
      await manager.handle(task, uncertain());
      const fresh = await running(manager);
      expect(fresh).not.toBe(task);
      // Let the rejection (if any) surface.
      for (let i = 0; i < 5; i++)
        await new Promise<void>((resolve) => {
          setImmediate(resolve);
        });
    } finally {
      process.off('unhandledRejection', record);
      for (const listener of previous) process.on('unhandledRejection', listener);
    }
    expect(rejections.map(String)).toEqual([]);
  });

  // BUG 2 (fixed: at least once, the state goes out only after the outputs are acknowledged;
  // the fake below sends in that order). At least once, a chunk's records and its changelog
  // records (clocks and emitted IDs) go out in the same non-transactional sendBatch, and only
  // then are the offsets committed. kafkajs sends one produce request per broker (and reports
  // per-partition errors), so the changelog partition can be acknowledged while the output
  // partition's request runs out of retries (a leader moving). The commit fails → uncertain →
  // the task is adopted again: its restore reads the changelog, which now says those event IDs
  // were emitted; the input offsets say they were not, so the records are processed again —
  // and dropped as duplicates. Nothing was ever written for them: lost, while the offsets move
  // past them. (Exactly once is not affected: everything is in one transaction.)
  test('at least once, a send that wrote the changelog but not the outputs loses no record on re-adoption', async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster, { guarantee: 'at_least_once' });
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    const records = orderRecords(0, 5);
    cluster.partialNext = true;
    const first = await task.process(INPUT, records);
    expect(first.committed).toBe(0);
    expect(first.failure?.kind).toBe('uncertain');
    expect(cluster.changelog).toEqual([]);
    // The loop: pause, seek back, hand the failure to the manager (re-adoption).
    manager.pausedFor(INPUT, 0);
    await manager.handle(task, first.failure as TaskFailure);
    const fresh = await running(manager);
    const skip = fresh.alreadyCommitted(INPUT, records);
    const again = await fresh.process(INPUT, records.slice(skip));
    expect(again.failure).toBeUndefined();
    // The offsets move past all five…
    expect(again.committed).toBe(5);
    // …but every input record must end in (at least) one output.
    expect(new Set(cluster.outputs.filter((o) => o.topic === OUTPUT).map((o) => o.id)).size).toBe(
      5,
    );
  });

  // BUG 3 (fixed: readopt adopts only if no task took the key meanwhile; orphaned task,
  // fencing fight, producer leak). An uncertain commit makes the loop call
  // `manager.handle` → `readopt`, which removes the task from the map and awaits its dirty close
  // (the producer's disconnect) before adopting a fresh one. kafkajs can emit GROUP_JOIN while a
  // batch is in flight: another fetcher's `recoverFromFetch` runs `joinAndSync()` on a stale-
  // metadata error (a leader moving — the same broker trouble that makes commits uncertain).
  // `assign()` then sees no task for the key and adopts one; `readopt` resumes and adopts a
  // second one over it. The first is orphaned: never closed (its producer stays connected for
  // ever), never used, and its InitProducerId may come after the second's and fence it (one
  // commit fails, the task waits readoptAfterMs = 2 × session timeout).
  test('a GROUP_JOIN while an uncertain task is being closed leaves one task and no producer open', async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster);
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    cluster.failNext = requestTimedOut('EndTxn');
    const outcome = await task.process(INPUT, orderRecords(0, 3));
    expect(outcome.failure?.kind).toBe('uncertain');
    const closing = deferred();
    cluster.closeGates.set(0, closing.promise);
    manager.pausedFor(INPUT, 0);
    const handling = manager.handle(task, outcome.failure as TaskFailure);
    // The same member, the same assignment: a rejoin after a stale-metadata fetch error.
    await manager.assign('m1', { [INPUT]: [0] });
    closing.resolve();
    await handling;
    await running(manager);
    await until(() => cluster.producers.every((p) => p.inits > 0));
    await manager.stop();
    // One producer for the first task, one for its one successor; both closed.
    expect(cluster.producers).toHaveLength(2);
    expect(cluster.producers.filter((p) => !p.closed)).toHaveLength(0);
  });

  // BUG 4 (fixed: a task's adoption on a member starts after the previous one of the same task
  // settled; was a stall of 2 × session timeout). A task's adoption sends InitProducerId through
  // kafkajs, which retries it internally (CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS,
  // NOT_COORDINATOR: up to 10 retries, 2 s apart, with taskProducer's settings). If the task is
  // revoked or lost meanwhile, `Task.adopt` only notices once `init()` returns — by then the
  // InitProducerId has bumped the epoch. When the task's next owner (another member, or this
  // one after a rejoin with a new member ID) initialised before it, the late one fences it: its
  // first commit fails as migrated, and nothing rebalances, so it waits readoptAfterMs (30 s
  // with the default 15 s session) before adopting again. Shown here for the rejoin case.
  test("a superseded adoption's late InitProducerId does not fence the task's new adoption", async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster);
    const slowInit = deferred();
    cluster.initGates.set(0, slowInit.promise);
    await manager.assign('m1', { [INPUT]: [0] });
    const first = manager.taskFor(INPUT, 0) as Task;
    // The member was dropped and rejoined (new member ID): the task is lost, adopted afresh.
    await manager.assign('m2', { [INPUT]: [0] });
    const second = manager.taskFor(INPUT, 0) as Task;
    expect(second).not.toBe(first);
    // The second adoption waits for the first to settle: kafkajs's retry of the first
    // InitProducerId finally goes through, then the second initialises after it.
    slowInit.resolve();
    await manager.adoption(first);
    expect(first.closed).toBe(true);
    expect(await running(manager)).toBe(second);
    const outcome = await second.process(INPUT, orderRecords(0, 3));
    expect(outcome.failure?.kind).toBeUndefined();
  });

  // BUG 5 (fixed: a running task takes its partitions back when its adoption ends, and a failed
  // chunk pauses its partition only if no other task holds it; was a partition paused for ever). kafkajs can emit GROUP_JOIN while a batch is
  // in flight (consumerGroup.fetch → recoverFromFetch → joinAndSync on a stale-metadata error,
  // e.g. a partition leader moving); if the member had been dropped it rejoins with a new member
  // ID, so `assign()` closes the task dirty, adopts a new one for the same partition, and resumes
  // the partitions it had paused — before the old chunk ends. The old chunk then fails (task
  // closed) and the loop pauses the partition, records it in `pausedFor`, and calls
  // `handle(old, migrated)`, which returns at once (the old task is no longer the map's). Nobody
  // resumes it: the new task is running (so /readyz says ready) but never gets a batch, until
  // some later rebalance. The simulation cannot show it: its consumer joins only between batches.
  test('a task lost mid-chunk to a rejoin does not leave its partition paused for the new task', async () => {
    const cluster = new FakeCluster();
    const paused = new Set<number>();
    const consumer: ConsumerPort = {
      pause: (_t, ps) => {
        for (const p of ps) paused.add(p);
      },
      resume: (_t, ps) => {
        for (const p of ps) paused.delete(p);
      },
    };
    const gate = deferred();
    let seen = 0;
    const slow = new Proxy(pipeline, {
      get(target, property, receiver) {
        if (property === 'process')
          return async (...args: Parameters<Pipeline['process']>) => {
            if (++seen === 2) await gate.promise;
            return target.process(...args);
          };
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    const manager = new TaskManager({
      pipelines: [slow],
      context: {
        groupId: 'adv',
        quarantineTopic: 'adv.quarantine',
        guarantee: 'exactly_once',
        metrics: new Metrics(),
        logger: createLogger('silent'),
        now: () => new Date(),
        dedupWindow: 1000,
      },
      ports: fakePorts(cluster),
      consumer,
      retryMaxMs: 50,
      readoptAfterMs: 60_000,
      onFatal: () => undefined,
      random: () => 0.5,
    });
    managers.push(manager);
    const loop = new BatchLoop({
      manager,
      metrics: new Metrics(),
      logger: createLogger('silent'),
      clock: immediateClock,
      maxRecords: 10,
      commitIntervalMs: 1_000,
      isStopping: () => false,
    });
    const control: BatchControl = {
      isRunning: () => true,
      isStale: () => false,
      heartbeat: () => Promise.resolve(),
      resolveOffset: () => undefined,
      pause: () => {
        paused.add(0);
        return () => paused.delete(0);
      },
      seek: () => undefined,
    };
    await manager.assign('m1', { [INPUT]: [0] });
    const first = await running(manager);
    const records = orderRecords(0, 4);
    const handled = loop.handle(
      { topic: INPUT, partition: 0, messages: records, highWatermark: '4' },
      control,
    );
    await until(() => seen === 2);
    // Mid-chunk: the rejoin with a new member ID (GROUP_JOIN from recoverFromFetch).
    await manager.assign('m1-new', { [INPUT]: [0] });
    gate.resolve();
    await handled;
    const second = await running(manager);
    expect(second).not.toBe(first);
    // The new task must get batches: its partition may not stay paused.
    expect(paused.has(0)).toBe(false);
  });
});

describe('bugs the simulation ran into, fixed', () => {
  // Two GROUP_JOINs in a row keep a running task whose chunk is in flight: each queues a
  // verification behind the chunk (the second one because the task still looked running).
  // The first verification's end removed the pending-adoption entry the second had put in its
  // place, so while the second one checked the offsets (the task "adopting") a batch saw no
  // adoption pending: BatchLoop.handle's wait — `Promise.race([adoption, sleep(1000)])` —
  // resolved at once, every time, and spun without ever yielding to I/O, piling up sleeps
  // (the simulation ran out of memory; kafkajs would have starved its own heartbeats).
  test('a batch waits, without spinning, for the second of two verifications queued behind a chunk', async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster);
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    const chunk = deferred();
    void task.exclusive(() => chunk.promise);
    // The second verification's offset fetch waits for `offsets`.
    const offsets = deferred();
    cluster.offsetGates.push(Promise.resolve(), offsets.promise);
    await manager.assign('m1', { [INPUT]: [0] });
    await manager.assign('m1', { [INPUT]: [0] });
    chunk.resolve();
    await until(() => task.status === 'adopting' && cluster.offsetGates.length === 0);
    let sleeps = 0;
    const loop = new BatchLoop({
      manager,
      metrics: new Metrics(),
      logger: createLogger('silent'),
      clock: {
        now: () => Date.now(),
        sleep: () => {
          sleeps += 1;
          return new Promise<void>(() => undefined);
        },
      },
      maxRecords: 10,
      commitIntervalMs: 1_000,
      isStopping: () => false,
    });
    let handled = false;
    const handling = loop
      .handle(
        { topic: INPUT, partition: 0, messages: orderRecords(0, 2), highWatermark: '2' },
        {
          isRunning: () => true,
          isStale: () => false,
          // A spinning wait fails the test instead of hanging it (it starves the timers).
          heartbeat: () =>
            sleeps > 100 ? Promise.reject(new Error('the batch loop spins')) : Promise.resolve(),
          resolveOffset: () => undefined,
          pause: () => () => undefined,
          seek: () => undefined,
        },
      )
      .then(
        () => {
          handled = true;
        },
        () => undefined,
      );
    try {
      for (let turn = 0; turn < 20; turn++)
        await new Promise<void>((resolve) => {
          setImmediate(resolve);
        });
      // Waiting on the verification: one sleep armed, not thousands.
      expect(sleeps).toBeLessThanOrEqual(1);
      expect(handled).toBe(false);
    } finally {
      offsets.resolve();
    }
    await handling;
    expect(task.running).toBe(true);
    expect(cluster.committed.get(`${INPUT}/0`)).toBe(2n);
  });
});

describe('interleavings that held', () => {
  test('stop() while a task is adopting closes its producer and ends the adoption', async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster);
    const slowInit = deferred();
    cluster.initGates.set(0, slowInit.promise);
    await manager.assign('m1', { [INPUT]: [0] });
    const task = manager.taskFor(INPUT, 0) as Task;
    const stopped = manager.stop();
    slowInit.resolve();
    await stopped;
    await manager.adoption(task);
    expect(task.closed).toBe(true);
    expect(cluster.producers.map((p) => p.closed)).toEqual([true]);
    expect(manager.taskFor(INPUT, 0)).toBeUndefined();
  });

  test('an uncertain commit that did commit is re-adopted without writing its records twice', async () => {
    const cluster = new FakeCluster();
    const manager = newManager(cluster);
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    const records = orderRecords(0, 4);
    // The first attempt commits, but its answer is lost: the producer reports a timeout.
    const ok = await task.process(INPUT, records);
    expect(ok.committed).toBe(4);
    const outcome: TaskFailure = uncertain();
    manager.pausedFor(INPUT, 0);
    await manager.handle(task, outcome);
    const fresh = await running(manager);
    // Redelivered from the consumer's older position: all of it is skipped.
    expect(fresh.alreadyCommitted(INPUT, records)).toBe(4);
    expect(cluster.outputs.filter((o) => o.topic === OUTPUT)).toHaveLength(4);
    // Its clocks are the committed ones (no rewind): o-0 has record 0 only.
    expect(fresh.stateView.clocks.current('o-0')).toEqual({ erp: 1 });
  });

  test('a fenced task is closed dirty and adopted again when no rebalance follows; its partition resumes', async () => {
    const cluster = new FakeCluster();
    const resumed: number[] = [];
    const manager = newManager(cluster, {
      consumer: { pause: () => undefined, resume: (_t, ps) => resumed.push(...ps) },
      readoptAfterMs: 1,
    });
    await manager.assign('m1', { [INPUT]: [0] });
    const task = await running(manager);
    // Another producer with the task's ID fenced this one (a zombie's view of the world).
    cluster.epochs.set('adv.orders.0', 99);
    const outcome = await task.process(INPUT, orderRecords(0, 2));
    expect(outcome.failure?.kind).toBe('migrated');
    manager.pausedFor(INPUT, 0);
    await manager.handle(task, outcome.failure as TaskFailure);
    const fresh = await running(manager);
    expect(fresh).not.toBe(task);
    expect(resumed).toContain(0);
    const again = await fresh.process(INPUT, orderRecords(0, 2));
    expect(again.committed).toBe(2);
  });

  test('dedup evictions computed for a chunk that rolls back evict nothing', () => {
    const state = new TaskState(2);
    state.dedup.remember('a');
    state.dedup.remember('b');
    state.changelogRecords(0);
    state.commit(INPUT, 2n);
    state.dedup.remember('c');
    const records = state.changelogRecords(0);
    expect(records.filter((r) => r.value === null).map((r) => r.key)).toEqual([stateKey.id('a')]);
    state.rollback();
    expect(state.dedup.seen('a')).toBe(true);
    expect(state.dedup.seen('c')).toBe(false);
    // The retried chunk evicts again, and the commit evicts exactly what was tombstoned.
    state.dedup.remember('c');
    const retried = state.changelogRecords(0);
    expect(retried.filter((r) => r.value === null).map((r) => r.key)).toEqual([stateKey.id('a')]);
    state.commit(INPUT, 3n);
    expect(['a', 'b', 'c'].map((id) => state.dedup.seen(id))).toEqual([false, true, true]);
  });

  test('clock retention: a restored tombstone forgets a clock from any segment; a later record brings it back', () => {
    const retention = 1_000;
    const state = new TaskState(10, retention);
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":3}', 0);
    state.restoreRecord(stateKey.clock('o-2'), '{"erp":1}', 900);
    state.restoreRecord(stateKey.clock('o-1'), null, 1_300);
    expect(state.clocks.current('o-1')).toBeUndefined();
    state.restoreRecord(stateKey.clock('o-1'), '{"erp":4}', 1_400);
    expect(state.clocks.current('o-1')).toEqual({ erp: 4 });
    // o-2 (last changed at 900) expires by 2,150 at the latest; o-1 (1,400) does not.
    const tombstones = state
      .changelogRecords(0, 2_150)
      .filter((r) => r.value === null)
      .map((r) => r.key);
    expect(tombstones).toEqual([stateKey.clock('o-2')]);
    state.rollback();
    expect(state.clocks.current('o-2')).toEqual({ erp: 1 });
  });
});
