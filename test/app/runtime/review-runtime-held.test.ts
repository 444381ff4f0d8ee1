/**
 * A fresh-eyes review of the at-least-once runtime fixes (c157386, d9d78c8): interleavings
 * and inputs that were tried and HELD, pinned. The real TaskManager, BatchLoop, Task and
 * TaskState and the real compiled pipeline run against fakes of a consumer group (generations,
 * owners, committed offsets checked against the generation the committing member's offset
 * manager has, as the patched kafkajs runner sends them), one changelog partition (read up to
 * the high watermark looked up when the restore starts) and the outputs with their clocks.
 */
import { createRequire } from 'node:module';
import fc from 'fast-check';
import kafkajs from 'kafkajs';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createLogger } from '../../../src/app/logger.js';
import { Metrics } from '../../../src/app/metrics.js';
import { BatchLoop, type BatchControl } from '../../../src/app/runtime/loop.js';
import type {
  Clock,
  InputPosition,
  TaskPorts,
  TaskProducer,
  TopicRecords,
} from '../../../src/app/runtime/ports.js';
import { RetainedClocks, stateKey, TaskState } from '../../../src/app/runtime/state.js';
import { TaskManager } from '../../../src/app/runtime/task-manager.js';
import type { Task } from '../../../src/app/runtime/task.js';
import { formatClock } from '../../../src/core/vector-clock.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { BASE_MAPPING, compileText } from '../../support/mappings.js';
import { orderRecords } from '../../support/tasks.js';

const { KafkaJSNonRetriableError } = kafkajs;
const require = createRequire(import.meta.url);
const { createErrorFromCode } = require('kafkajs/src/protocol/error.js') as {
  createErrorFromCode: (code: number) => Error;
};
const ILLEGAL_GENERATION = 22;
/** kafkajs's retrier wraps an error it does not retry so, the original as `cause` (not in its types). */
const NonRetriable = KafkaJSNonRetriableError as unknown as new (
  error: Error,
  options: { cause: Error },
) => Error;
const INPUT = 'erp.orders';

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

/** A member's consumer: its ID and the generation of its offset manager (its last SyncGroup). */
interface Member {
  readonly id: string;
  generation: number;
}

/** What the fakes keep of the cluster: the group, partition 0's changelog, the outputs. */
class Group {
  generation = 1;
  readonly owners = new Map<number, string>();
  readonly committed = new Map<string, bigint>();
  /** Every offset commit the group accepted, in order. */
  readonly commits: { member: string; offset: bigint }[] = [];
  readonly changelog: { key: string; value: string | null; timestamp: number }[] = [];
  readonly outputs: { offset: string; clock: number }[] = [];

  /** OffsetCommit: refused unless sent in the current generation (Kafka: ILLEGAL_GENERATION). */
  commit(member: Member, generation: number, position: InputPosition): void {
    if (generation !== this.generation) {
      const refused = createErrorFromCode(ILLEGAL_GENERATION);
      throw new NonRetriable(refused, { cause: refused });
    }
    if (this.owners.get(position.partition) !== member.id)
      throw new Error(`${member.id} committed partition ${position.partition} it does not own`);
    this.committed.set(`${position.topic}/${position.partition}`, BigInt(position.offset));
    this.commits.push({ member: member.id, offset: BigInt(position.offset) });
  }
}

/**
 * As IdempotentTaskProducer drives kafkajs: outputs, then the state once they are
 * acknowledged, then consumer.commitOffsets in the generation of the call; nothing more once
 * the task is revoked or the producer closed.
 */
class AloProducer implements TaskProducer {
  constructor(
    private readonly group: Group,
    private readonly member: Member,
    private readonly revoked: AbortSignal,
  ) {}

  private closed = false;

  init(): Promise<void> {
    return Promise.resolve();
  }

  private refuseIfClosed(): void {
    if (this.closed || this.revoked.aborted)
      throw new Error('the task was revoked or closed; its producer writes nothing more');
  }

  async commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    for (const phase of [records.filter((r) => !r.state), records.filter((r) => r.state)]) {
      this.refuseIfClosed();
      await Promise.resolve();
      for (const { topic, messages } of phase)
        for (const m of messages) {
          if (topic.endsWith('.clocks'))
            this.group.changelog.push({
              key: String(m.key),
              value: m.value === null ? null : String(m.value),
              timestamp: Date.now(),
            });
          else if (topic === 'sales.placed') {
            const clock = JSON.parse(String(m.headers?.['membrane.vclock'])) as { erp: number };
            this.group.outputs.push({
              offset: String(m.headers?.['membrane.source.offset']),
              clock: clock.erp,
            });
          }
        }
    }
    this.refuseIfClosed();
    this.group.commit(this.member, this.member.generation, position);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

const clock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    signal?.aborted
      ? Promise.reject(signal.reason as Error)
      : ms >= 10_000
        ? new Promise<void>(() => undefined)
        : Promise.resolve(),
};

function ports(group: Group, member: Member): TaskPorts {
  return {
    createProducer: (_id, revoked) => new AloProducer(group, member, revoked),
    offsets: {
      committed: (topics, partition) =>
        Promise.resolve(
          new Map(
            topics.flatMap((t) => {
              const offset = group.committed.get(`${t}/${partition}`);
              return offset === undefined ? [] : [[t, offset] as const];
            }),
          ),
        ),
    },
    topics: { missing: () => Promise.resolve([]) },
    changelog: {
      restore: (_topic, partition, apply, progress) => {
        const end = group.changelog.length;
        let records = 0;
        for (let i = Number(progress.get(partition) ?? 0n); i < end; i++) {
          const r = group.changelog[i];
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

let pipeline: Pipeline;
const managers: TaskManager[] = [];
const fatals: string[] = [];

beforeAll(async () => {
  pipeline = await compileText(BASE_MAPPING);
});

afterEach(async () => {
  await Promise.all(managers.splice(0).map((m) => m.stop()));
  fatals.splice(0);
});

/** Records the pipeline sees wait for `gate` from the `from`-th one on (1-based; all if unset). */
function gated(): { pipeline: Pipeline; hold: (from: number) => Deferred; seen: () => number } {
  let seen = 0;
  let holdFrom = Infinity;
  let gate: Deferred | undefined;
  const wrapped = new Proxy(pipeline, {
    get(target, property, receiver) {
      if (property === 'process')
        return async (...args: Parameters<Pipeline['process']>) => {
          seen += 1;
          if (seen >= holdFrom && gate) await gate.promise;
          return target.process(...args);
        };
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return {
    pipeline: wrapped,
    hold: (from) => {
      holdFrom = seen + from;
      gate = deferred();
      return gate;
    },
    seen: () => seen,
  };
}

function newManager(group: Group, member: Member, withPipeline: Pipeline = pipeline) {
  const paused = new Set<number>();
  const manager = new TaskManager({
    pipelines: [withPipeline],
    context: {
      groupId: 'review',
      quarantineTopic: 'review.quarantine',
      guarantee: 'at_least_once',
      metrics: new Metrics(),
      logger: createLogger('silent'),
      now: () => new Date(),
      dedupWindow: 1000,
    },
    ports: ports(group, member),
    consumer: {
      pause: (_t, ps) => {
        for (const p of ps) paused.add(p);
      },
      resume: (_t, ps) => {
        for (const p of ps) paused.delete(p);
      },
    },
    retryMaxMs: 50,
    readoptAfterMs: 30_000,
    onFatal: (error) => {
      fatals.push(error.code);
    },
    random: () => 0.5,
  });
  managers.push(manager);
  const loop = new BatchLoop({
    manager,
    metrics: new Metrics(),
    logger: createLogger('silent'),
    clock,
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
  const handle = (from: number, to: number) =>
    loop.handle(
      { topic: INPUT, partition: 0, messages: records(from, to), highWatermark: String(to) },
      control,
    );
  return { manager, paused, handle };
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

/** One aggregate (o-0) for every record: its clock counts the records translated. */
const records = (from: number, to: number) => orderRecords(from, to, 1);

/**
 * The at-least-once clock rule: a record translated once never gets a clock at or below one
 * already on the outputs before it.
 */
function clockRegressions(outputs: readonly { offset: string; clock: number }[]): string[] {
  const times = new Map<string, number>();
  for (const o of outputs) times.set(o.offset, (times.get(o.offset) ?? 0) + 1);
  let highest = 0;
  const out: string[] = [];
  for (const o of outputs) {
    if (times.get(o.offset) === 1 && o.clock <= highest)
      out.push(`record ${o.offset} got ${o.clock} after ${highest}`);
    highest = Math.max(highest, o.clock);
  }
  return out;
}

describe('review (held): at least once, revoked or kept with a chunk in flight', () => {
  test('a task revoked mid-chunk writes no state and commits no offset; its partition is fetched again once it comes back', async () => {
    const group = new Group();
    const a: Member = { id: 'A', generation: 1 };
    group.owners.set(0, 'A');
    const slow = gated();
    const { manager, paused, handle } = newManager(group, a, slow.pipeline);
    await manager.assign('A', { [INPUT]: [0] });
    await running(manager);
    const gate = slow.hold(2);
    const handling = handle(0, 3);
    await until(() => slow.seen() === 2);
    // GROUP_JOIN of generation 2: partition 0 goes to B.
    group.generation = 2;
    a.generation = 2;
    group.owners.set(0, 'B');
    const assigned = manager.assign('A', {});
    gate.resolve();
    await handling;
    await assigned;
    expect(fatals).toEqual([]);
    expect(group.commits).toEqual([]);
    expect(group.changelog).toEqual([]);
    // Revoked before its commit began: not even its outputs went out.
    expect(group.outputs).toEqual([]);
    expect(paused.has(0)).toBe(true);
    // Generation 3: the partition comes back; the paused partition is handed back.
    group.generation = 3;
    a.generation = 3;
    group.owners.set(0, 'A');
    await manager.assign('A', { [INPUT]: [0] });
    await running(manager);
    expect(paused.has(0)).toBe(false);
  });

  // A task kept across a generation its member missed (a SyncGroup refused), with a chunk in
  // flight all along: the chunk's commit lands in the new generation (the member owns the
  // partition again) and takes the committed offset back below what the other owner committed
  // meanwhile — but to where this task's own state stands, so verify() passes rightly: the
  // records after it are translated again (duplicates, allowed) with the clocks they had, and a
  // record translated once still gets a clock above every one emitted.
  test('a kept task whose chunk spans a missed generation commits offsets back, consistently with its state', async () => {
    const group = new Group();
    const a: Member = { id: 'A', generation: 1 };
    const b: Member = { id: 'B', generation: 2 };
    group.owners.set(0, 'A');
    const slow = gated();
    const { manager, handle } = newManager(group, a, slow.pipeline);
    await manager.assign('A', { [INPUT]: [0] });
    const kept = await running(manager);
    await handle(0, 2);
    // A's chunk of records 2-3, held mid-chunk.
    const gate = slow.hold(2);
    const handling = handle(2, 4);
    await until(() => slow.seen() === 4);
    // Generation 2, missed by A: B restores A's state, translates 2-5, commits 6, leaves.
    group.generation = 2;
    group.owners.set(0, 'B');
    const other = newManager(group, b);
    await other.manager.assign('B', { [INPUT]: [0] });
    await running(other.manager);
    await other.handle(2, 6);
    expect(group.committed.get(`${INPUT}/0`)).toBe(6n);
    await other.manager.stop();
    // Generation 3: A keeps partition 0 (same member ID); its chunk goes on.
    group.generation = 3;
    a.generation = 3;
    group.owners.set(0, 'A');
    await manager.assign('A', { [INPUT]: [0] });
    gate.resolve();
    await handling;
    // The committed offset went back from B's 6 to A's 4…
    expect(group.commits.map((c) => `${c.member}:${String(c.offset)}`)).toEqual([
      'A:2',
      'B:6',
      'A:4',
    ]);
    // …where A's state stands: it goes on from there, and no clock goes back.
    const task = await running(manager);
    expect(task).toBe(kept);
    expect(task.alreadyCommitted(INPUT, records(0, 8))).toBe(4);
    await handle(4, 8);
    expect(fatals).toEqual([]);
    expect(group.committed.get(`${INPUT}/0`)).toBe(8n);
    // Records 4 and 5 twice (B, then A again), with the same clocks; none went back.
    expect(group.outputs.filter((o) => o.offset === '5').map((o) => o.clock)).toEqual([6, 6]);
    expect(clockRegressions(group.outputs)).toEqual([]);
    expect(group.outputs.filter((o) => o.offset === '7')).toHaveLength(1);
  });
});

describe('review (held): merging clock records on restore', () => {
  const day = 24 * 3600 * 1000;
  const retentionMs = 7 * day;

  interface Entry {
    readonly aggregate: string;
    /** undefined: a tombstone. */
    readonly erp: number | undefined;
    readonly at: number;
  }

  /**
   * Changelogs as one owner at a time writes them (exactly once, or at least once with no
   * zombie): per aggregate the clocks only grow, a tombstone forgets, and a clock after it
   * starts over; timestamps in log order.
   */
  const changelogs = fc
    .array(
      fc.record({
        aggregate: fc.constantFrom('o-1', 'o-2', 'o-3'),
        step: fc.integer({ min: 0, max: 3 }),
        tombstone: fc.boolean(),
        gap: fc.integer({ min: 0, max: 3 * day }),
      }),
      { maxLength: 40 },
    )
    .map((raw) => {
      const last = new Map<string, number>();
      let at = 0;
      return raw.map(({ aggregate, step, tombstone, gap }): Entry => {
        at += gap;
        if (tombstone) {
          last.delete(aggregate);
          return { aggregate, erp: undefined, at };
        }
        const erp = (last.get(aggregate) ?? 0) + step + 1;
        last.set(aggregate, erp);
        return { aggregate, erp, at };
      });
    });

  function restored(entries: readonly Entry[], lastWins: boolean): TaskState {
    const state = new TaskState(10, retentionMs);
    if (lastWins) {
      // The restore before c157386: the last record of an aggregate replaces its clock.
      const clocks = state.clocks as unknown as {
        restore: RetainedClocks['restore'];
        put: RetainedClocks['restore'];
      };
      clocks.restore = (aggregate, clock, at) => {
        clocks.put(aggregate, clock, at);
      };
    }
    for (const e of entries)
      state.restoreRecord(
        stateKey.clock(e.aggregate),
        e.erp === undefined ? null : formatClock({ erp: e.erp }),
        e.at,
      );
    return state;
  }

  test('for a changelog written by one owner at a time, a restore is what the last record gave, expiries included', () => {
    fc.assert(
      fc.property(changelogs, fc.integer({ min: 0, max: 30 * day }), (entries, later) => {
        const merged = restored(entries, false);
        const last = restored(entries, true);
        for (const aggregate of ['o-1', 'o-2', 'o-3'])
          expect(merged.clocks.current(aggregate)).toEqual(last.clocks.current(aggregate));
        expect(merged.clocks.size).toBe(last.clocks.size);
        // Which clocks a chunk at some later time expires: the same.
        const now = (entries.at(-1)?.at ?? 0) + later;
        expect(merged.changelogRecords(0, now)).toEqual(last.changelogRecords(0, now));
      }),
      { numRuns: 300 },
    );
  });
});
