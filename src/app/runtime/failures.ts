import { classifyKafkaError, fatalKafkaError } from '../../adapters/kafka/errors.js';
import { isMembraneError, MembraneError, messageOf } from '../../core/errors.js';

/**
 * The runtime's one error taxonomy for what a task meets while processing and committing
 * (record faults never get here: the pipeline turns them into quarantine verdicts).
 * - `transient`: retry that partition with backoff growing per task; never quarantine.
 * - `uncertain`: a commit failed in a way that may have happened anyway (an answer lost after
 *   the broker applied it): the task is adopted again at once — its fence settles the
 *   transaction, its restore and the committed offsets then tell what really happened.
 *   Retrying in place with the rolled-back state would commit the chunk twice.
 * - `migrated`: another member owns the task now (fenced, or the group moved on): close the
 *   task dirty — nothing committed, in-memory state discarded — and never write for it again
 *   until a new assignment adopts it afresh (Kafka Streams' TaskMigratedException).
 * - `fatal`: no retry can help (authorization, a missing output topic, a record the cluster
 *   refuses, a bug): stop membrane with one sentence and a non-zero exit, committing nothing
 *   partial.
 */
export type FailureKind = 'transient' | 'uncertain' | 'migrated' | 'fatal';

export class TaskFailure extends Error {
  override readonly name = 'TaskFailure';
  readonly kind: FailureKind;
  readonly error: MembraneError;

  constructor(kind: FailureKind, error: MembraneError) {
    super(error.message, { cause: error });
    this.kind = kind;
    this.error = error;
  }
}

export function isTaskFailure(error: unknown): error is TaskFailure {
  return error instanceof TaskFailure;
}

/**
 * A failure while a record was in the pipeline. The pipeline throws only for infrastructure
 * (the schema registry unreachable, refusing our credentials during a rotation, answering
 * garbage through a proxy): none of that is the record's fault, so it is retried — the
 * partition waits, nothing is quarantined, and a stall shows on /readyz and in
 * `membrane_retries_total`. Anything else thrown there is a bug.
 */
export function pipelineFailure(taskKey: string, error: unknown): TaskFailure {
  if (isTaskFailure(error)) return error;
  if (isMembraneError(error)) return new TaskFailure('transient', error);
  return new TaskFailure(
    'fatal',
    new MembraneError(
      'runtime.bug',
      `Task ${taskKey} failed unexpectedly (a bug; please report it): ${messageOf(error)}`,
      { cause: error },
    ),
  );
}

/**
 * A failure talking to Kafka (fence, restore, commit), classified in one place. `topics` are
 * those the failed operation wrote to: kafkajs rarely names the topic an error is about.
 */
export function kafkaFailure(
  taskKey: string,
  what: string,
  error: unknown,
  topics: readonly string[] = [],
): TaskFailure {
  if (isTaskFailure(error)) return error;
  const classified = classifyKafkaError(error);
  switch (classified.kind) {
    case 'migrated':
      return new TaskFailure(
        'migrated',
        new MembraneError(
          'kafka.task-migrated',
          `Task ${taskKey} now belongs to another member (${classified.type ?? classified.message}); closing it without committing.`,
          { cause: error },
        ),
      );
    case 'transient':
      return new TaskFailure(
        'transient',
        isMembraneError(error) && error.retriable
          ? error
          : new MembraneError(
              'kafka.transient',
              `${what} for task ${taskKey} failed: ${classified.message}`,
              { retriable: true, cause: error },
            ),
      );
    case 'fatal':
      return new TaskFailure('fatal', fatalKafkaError(classified, error, topics));
  }
}
