import { createLogger } from '../../src/app/logger.js';
import { Metrics } from '../../src/app/metrics.js';
import {
  systemClock,
  type ChangelogPort,
  type InputPosition,
  type OffsetsPort,
  type TaskPorts,
  type TaskProducer,
  type TopicRecords,
} from '../../src/app/runtime/ports.js';
import { Task, type InputRecord, type TaskContext } from '../../src/app/runtime/task.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';

/** A producer that remembers what each commit carried, and can be told to fail. */
export class RecordingProducer implements TaskProducer {
  readonly commits: { records: readonly TopicRecords[]; position: InputPosition }[] = [];
  failNext: Error | undefined;
  closed = false;

  init(): Promise<void> {
    return Promise.resolve();
  }

  commit(records: readonly TopicRecords[], position: InputPosition): Promise<void> {
    const failure = this.failNext;
    this.failNext = undefined;
    if (failure !== undefined) return Promise.reject(failure);
    this.commits.push({ records, position });
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

export const emptyChangelog: ChangelogPort = { restore: () => Promise.resolve({ records: 0 }) };
export const noOffsets: OffsetsPort = { committed: () => Promise.resolve(new Map()) };

/** Ports for a task in a unit test: nothing restored, nothing committed before. */
export function testPorts(producer: TaskProducer, overrides: Partial<TaskPorts> = {}): TaskPorts {
  return {
    createProducer: () => producer,
    offsets: noOffsets,
    topics: { missing: () => Promise.resolve([]) },
    changelog: emptyChangelog,
    clock: systemClock,
    ...overrides,
  };
}

/** Partition 0 of `pipeline` as a task, exactly-once and quiet; override what a test is about. */
export function testTask(
  pipeline: Pipeline,
  ports: TaskPorts,
  context: Partial<TaskContext> = {},
): Task {
  return new Task(
    pipeline,
    0,
    {
      groupId: 'membrane-test',
      quarantineTopic: 'membrane-test.quarantine',
      guarantee: 'exactly_once',
      metrics: new Metrics(),
      logger: createLogger('silent'),
      now: () => new Date(),
      dedupWindow: 1000,
      ...context,
    },
    ports,
  );
}

/** Orders `from`..`to`-1 as fetched input records (offset = index), `aggregates` order IDs. */
export function orderRecords(from: number, to: number, aggregates = 7): InputRecord[] {
  return Array.from({ length: to - from }, (_, k) => {
    const i = from + k;
    return {
      key: Buffer.from(`o-${i % aggregates}`),
      value: Buffer.from(
        JSON.stringify({ event_id: `e-${i}`, order_id: `o-${i % aggregates}`, total: '1.00' }),
      ),
      headers: {},
      offset: String(i),
      timestamp: String(Date.now()),
    };
  });
}
