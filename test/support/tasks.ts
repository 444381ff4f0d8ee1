import type { Producer } from 'kafkajs';
import { createLogger } from '../../src/app/logger.js';
import { Metrics } from '../../src/app/metrics.js';
import { Task, type TaskContext } from '../../src/app/task.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';

/** For tests of a task that never produces. */
export const noProducer = (): Producer => {
  throw new Error('no producer in this test');
};

/** Partition 0 of `pipeline` as a task, exactly-once and quiet; override what a test is about. */
export function testTask(
  pipeline: Pipeline,
  createProducer: (transactionalId: string | undefined) => Producer,
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
      commitOffsets: () => Promise.resolve(),
      ...context,
    },
    createProducer,
  );
}
