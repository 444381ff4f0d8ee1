import type { Logger } from 'pino';
import type { MembraneError } from '../../core/errors.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import type { Metrics } from '../metrics.js';
import { isTaskFailure, pipelineFailure, TaskFailure } from './failures.js';
import type { ConsumerPort, TaskPorts } from './ports.js';
import { Task, type TaskContext } from './task.js';

/** Read afresh after an await (TypeScript narrows the getter otherwise). */
const isClosed = (task: Task): boolean => task.closed;

export interface TaskManagerOptions {
  readonly pipelines: readonly Pipeline[];
  readonly context: TaskContext;
  readonly ports: TaskPorts;
  readonly consumer: ConsumerPort;
  /** Cap of the exponential backoff between retries of one task. */
  readonly retryMaxMs: number;
  /**
   * After a task was fenced while it is still assigned here, how long to wait for the
   * rebalance that must follow before adopting it again (liveness when none comes).
   */
  readonly readoptAfterMs: number;
  /** Called once with the first fatal failure: membrane must stop. */
  readonly onFatal: (error: MembraneError) => void;
  readonly random?: () => number;
}

/**
 * Owns the member's tasks (Kafka Streams' TaskManager): turns each assignment into tasks
 * adopted (fence, restore, committed positions), kept, or closed; closes a migrated task
 * dirty; decides the backoff of retries. A transactional ID is initialised only when a task
 * of the current assignment is adopted — never for a batch, never to retry a fenced task.
 */
export class TaskManager {
  private readonly options: TaskManagerOptions;
  private readonly logger: Logger;
  private readonly metrics: Metrics;
  private readonly random: () => number;
  private readonly tasks = new Map<string, Task>();
  private readonly adoptions = new Map<Task, Promise<void>>();
  /** Per task key, the latest adoption started on this member (settled or not). */
  private readonly lastAdoption = new Map<string, Promise<void>>();
  /** Per task key, the latest task made on this member. */
  private readonly lastTask = new Map<string, Task>();
  private readonly byTopic = new Map<string, Pipeline>();
  /** Tasks of the current assignment (keys), and the pipeline and partition of each. */
  private assigned = new Map<string, { pipeline: Pipeline; partition: number }>();
  /** Partitions this manager paused because their task is not (or no longer) running here. */
  private readonly paused = new Map<string, Set<number>>();
  private memberId: string | undefined;
  /** Bumped by every assignment: a late re-adoption of an older one does nothing. */
  private generation = 0;
  private stopping = false;
  private fatal: MembraneError | undefined;

  constructor(options: TaskManagerOptions) {
    this.options = options;
    this.logger = options.context.logger;
    this.metrics = options.context.metrics;
    this.random = options.random ?? Math.random;
    for (const pipeline of options.pipelines)
      for (const topic of pipeline.topics) this.byTopic.set(topic, pipeline);
  }

  /** The tasks this member owns now (for the assignor's stickiness and for tests). */
  ownedTasks(): { mapping: string; partition: number }[] {
    return [...this.tasks.values()]
      .filter((task) => !task.closed)
      .map((task) => ({ mapping: task.pipeline.name, partition: task.partition }));
  }

  /** Every task of the assignment restored and running, none stalled past `stallMs`. */
  ready(now: number, stallMs: number): boolean {
    if (this.stopping || this.fatal) return false;
    for (const key of this.assigned.keys()) {
      const task = this.tasks.get(key);
      if (!task?.running) return false;
      if (task.failingSince !== undefined && now - task.failingSince > stallMs) return false;
    }
    return true;
  }

  get failed(): MembraneError | undefined {
    return this.fatal;
  }

  /**
   * A new assignment (a completed rebalance). If the member ID changed, this member was out
   * of the group in between and another may have owned any of its tasks: every task it had
   * is lost — closed dirty, re-adopted from the changelog if assigned again. Otherwise tasks
   * it keeps stay as they are, and revoked ones close clean after their chunk in flight.
   */
  async assign(
    memberId: string,
    assignment: Readonly<Record<string, readonly number[]>>,
  ): Promise<void> {
    this.generation += 1;
    const lost = this.memberId !== undefined && memberId !== this.memberId;
    this.memberId = memberId;
    const owned = new Map<string, { pipeline: Pipeline; partition: number }>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      const pipeline = this.byTopic.get(topic);
      if (pipeline)
        for (const partition of partitions)
          owned.set(`${pipeline.name}/${partition}`, { pipeline, partition });
    }
    this.assigned = owned;
    this.metrics.tasks.set(owned.size);
    this.logger.info({ tasks: [...owned.keys()].sort(), lost }, 'tasks assigned');
    const closing: Promise<void>[] = [];
    for (const [key, task] of this.tasks) {
      if (lost || !owned.has(key) || task.closed) {
        this.tasks.delete(key);
        closing.push(lost ? task.close('dirty') : this.closeClean(task));
      }
    }
    // Partitions paused for a task that was not running here are handed back to the fetch
    // loop; their tasks are adopted below.
    for (const [topic, partitions] of this.paused) this.resume(topic, [...partitions]);
    this.paused.clear();
    for (const [key, { pipeline, partition }] of owned) {
      const kept = this.tasks.get(key);
      if (!kept) this.adopt(pipeline, partition);
      else if (kept.running) this.verify(kept);
    }
    await Promise.all(closing);
  }

  /** The task for a fetched batch, if it belongs to the current assignment here. */
  taskFor(topic: string, partition: number): Task | undefined {
    const pipeline = this.byTopic.get(topic);
    if (!pipeline) return undefined;
    const task = this.tasks.get(`${pipeline.name}/${partition}`);
    return task && !task.closed ? task : undefined;
  }

  /** Settles when the task's adoption or verification ended; undefined when none is pending. */
  adoption(task: Task): Promise<void> | undefined {
    return this.adoptions.get(task);
  }

  /** Remembers that the consumer paused a partition whose task does not run here. */
  pausedFor(topic: string, partition: number): void {
    let set = this.paused.get(topic);
    if (!set) this.paused.set(topic, (set = new Set()));
    set.add(partition);
  }

  /** Pauses or resumes through the consumer, which throws while kafkajs restarts it. */
  private resume(topic: string, partitions: readonly number[]): void {
    try {
      this.options.consumer.resume(topic, partitions);
    } catch (error) {
      // A restarted consumer starts with nothing paused.
      this.logger.debug({ topic, partitions, error: String(error) }, 'resuming failed');
    }
  }

  /** Hands a running task's partitions back to the fetch loop. */
  private resumeTask(task: Task): void {
    if (this.tasks.get(task.key) !== task || !task.running) return;
    for (const topic of task.pipeline.topics) {
      this.paused.get(topic)?.delete(task.partition);
      this.resume(topic, [task.partition]);
    }
  }

  private adopt(pipeline: Pipeline, partition: number, failures = 0, failingSince?: number): Task {
    const task = new Task(pipeline, partition, this.options.context, this.options.ports);
    task.failures = failures;
    task.failingSince = failingSince;
    this.tasks.set(task.key, task);
    // After the previous task of the same key on this member has settled — its adoption (an
    // InitProducerId still being retried by kafkajs would otherwise land after this one's and
    // fence it) and its chunk in flight (closed dirty by a rejoin mid-commit, its commit can
    // still land; at least once nothing fences it) — so this one reads what those left.
    const before = this.lastTask.get(task.key);
    this.lastTask.set(task.key, task);
    const previous = Promise.all([
      this.lastAdoption.get(task.key),
      before?.exclusive(() => Promise.resolve()),
    ]);
    const adoption = previous
      .then(() => this.adoptLoop(task))
      .then(() => {
        // Whatever paused its partitions (a failure of the task before it, a batch that came
        // while nothing ran here), the running task takes them back.
        this.resumeTask(task);
      })
      .finally(() => {
        this.settled(task, adoption);
      });
    this.adoptions.set(task, adoption);
    this.lastAdoption.set(task.key, adoption);
    return task;
  }

  /**
   * A task this member keeps across a rebalance without having left the group. If it missed a
   * generation all the same (a SyncGroup refused mid-rebalance keeps the member ID), another
   * member may have committed for it meanwhile: its state would be stale. The group's
   * committed offsets tell; a stale task is adopted again.
   */
  private verify(task: Task): void {
    const verification = task
      .exclusive(() => task.verify())
      .catch(async (error: unknown) => {
        if (isClosed(task) || this.isStopping()) return;
        const failure = isTaskFailure(error) ? error : pipelineFailure(task.key, error);
        await this.handle(
          task,
          failure.kind === 'fatal' ? failure : new TaskFailure('uncertain', failure.error),
        );
      })
      .finally(() => {
        this.settled(task, verification);
      });
    this.adoptions.set(task, verification);
  }

  /**
   * Forgets a settled adoption or verification — unless another one took its place meanwhile
   * (two rebalances in a row queue two verifications behind a chunk): that one still runs,
   * and batches must go on waiting for it.
   */
  private settled(task: Task, pending: Promise<void>): void {
    if (this.adoptions.get(task) === pending) this.adoptions.delete(task);
  }

  private async adoptLoop(task: Task): Promise<void> {
    // Adopted again after failures: wait the backoff first, so a commit that keeps failing
    // does not turn into a loop of fences and restores.
    if (task.failures > 0)
      await this.options.ports.clock
        .sleep(this.backoff(task.failures), task.abort.signal)
        .catch(() => undefined);
    for (let attempt = 1; !task.closed && !this.isStopping(); attempt++) {
      try {
        await task.exclusive(() => task.adopt());
        return;
      } catch (error) {
        if (isClosed(task) || this.isStopping()) return;
        const failure = isTaskFailure(error) ? error : pipelineFailure(task.key, error);
        if (failure.kind !== 'transient') {
          await this.handle(task, failure);
          return;
        }
        const delay = this.backoff(attempt);
        this.metrics.retries.inc({ mapping: task.pipeline.name, code: failure.error.code });
        this.logger.warn(
          { task: task.key, code: failure.error.code, retryInMs: delay },
          `adopting the task failed; retrying: ${failure.error.message}`,
        );
        await this.options.ports.clock.sleep(delay, task.abort.signal).catch(() => undefined);
      }
    }
  }

  /**
   * A task's failure that is not transient: a migrated task closes dirty and waits for the
   * rebalance that gives it a new owner (or back to this member, as a new task); a fatal one
   * stops membrane.
   */
  async handle(task: Task, failure: TaskFailure): Promise<void> {
    if (failure.kind === 'fatal') {
      this.fail(failure.error);
      await task.close('dirty');
      return;
    }
    if (failure.kind === 'uncertain') {
      await this.readopt(task, failure);
      return;
    }
    if (failure.kind !== 'migrated') return;
    if (this.tasks.get(task.key) === task) this.tasks.delete(task.key);
    if (task.closed) return;
    this.logger.warn({ task: task.key, code: failure.error.code }, failure.error.message);
    await task.close('dirty');
    // Liveness: normally a rebalance follows (the member that fenced this one joined, or this
    // one was dropped from the group). If none comes and the task is still ours, adopt it
    // again — a fresh task, reading its state after its own fence.
    const generation = this.generation;
    void this.options.ports.clock.sleep(this.options.readoptAfterMs).then(() => {
      const wanted = this.assigned.get(task.key);
      if (this.stopping || this.generation !== generation || !wanted || this.tasks.has(task.key))
        return;
      this.logger.info(
        { task: task.key },
        'no rebalance followed the fence; adopting the task again',
      );
      this.adopt(wanted.pipeline, wanted.partition);
    });
  }

  /**
   * A commit of unknown outcome: close the task dirty and adopt it again at once if it is
   * still ours — the new producer's fence settles the transaction one way or the other, and
   * the restore and committed offsets read after it say which. The backoff keeps growing.
   */
  private async readopt(task: Task, failure: TaskFailure): Promise<void> {
    if (this.tasks.get(task.key) !== task || task.closed) return;
    this.tasks.delete(task.key);
    this.metrics.retries.inc({ mapping: task.pipeline.name, code: failure.error.code });
    this.logger.warn(
      { task: task.key, code: failure.error.code },
      `a commit failed and may have happened anyway; adopting the task again: ${failure.error.message}`,
    );
    await task.close('dirty');
    const wanted = this.assigned.get(task.key);
    // A rebalance during the close may have adopted the task already.
    if (this.isStopping() || !wanted || this.tasks.has(task.key)) return;
    this.adopt(wanted.pipeline, wanted.partition, task.failures + 1, task.failingSince);
  }

  /** Exponential backoff with jitter, growing per task, capped by MEMBRANE_RETRY_MAX_MS. */
  backoff(attempt: number): number {
    const cap = Math.min(this.options.retryMaxMs, 100 * 2 ** Math.min(attempt, 30));
    return Math.round(cap / 2 + this.random() * (cap / 2));
  }

  /** A method, not the field: TypeScript would narrow the field across awaits. */
  private isStopping(): boolean {
    return this.stopping;
  }

  fail(error: MembraneError): void {
    if (this.fatal) return;
    this.fatal = error;
    this.options.onFatal(error);
  }

  private async closeClean(task: Task): Promise<void> {
    task.abort.abort();
    await task.exclusive(() => task.close('clean'));
  }

  /** Closes every task after its chunk in flight. */
  async stop(): Promise<void> {
    this.stopping = true;
    const tasks = [...this.tasks.values()];
    this.tasks.clear();
    await Promise.all(tasks.map((task) => this.closeClean(task)));
  }
}
