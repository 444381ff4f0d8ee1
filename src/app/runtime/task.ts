import type { Logger } from 'pino';
import { encodeQuarantine, type QuarantinedBatch } from '../../adapters/quarantine/codec.js';
import { MembraneError } from '../../core/errors.js';
import type { RefusedBatch, SourceRecord } from '../../core/records.js';
import type { DropCause } from '../../core/verdict.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { quarantineLineAllowed } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { kafkaFailure, pipelineFailure, TaskFailure } from './failures.js';
import type { OutRecord, RestoreProgress, TaskPorts, TaskProducer } from './ports.js';
import { changelogTopic, TaskState } from './state.js';

/** What a task needs from the runtime besides Kafka. */
export interface TaskContext {
  readonly groupId: string;
  readonly quarantineTopic: string;
  /**
   * What the quarantine topic takes (`max.message.bytes`); a record that would not fit is
   * quarantined cut to fit, marked `membrane.quarantine.truncated`. Unset: no limit.
   */
  readonly quarantineMaxBytes?: number;
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly now: () => Date;
  /** How many emitted IDs a task remembers to drop redeliveries. */
  readonly dedupWindow: number;
  /** How long an aggregate's clock is kept after its last change (Infinity: for ever). */
  readonly stateRetentionMs?: number;
}

/** A fetched input record, as the task sees it (kafkajs's KafkaMessage fits). */
export interface InputRecord {
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers?: SourceRecord['headers'];
  /** A batch kafkajs (patched) could not decode, standing in for all of it. */
  readonly refusedBatch?: SourceRecord['refusedBatch'];
}

export interface ChunkOutcome {
  /** How many leading records of the chunk are committed (0 or all of them). */
  readonly committed: number;
  /** Why the rest was not. */
  readonly failure: TaskFailure | undefined;
}

/** What the quarantine record of a refused batch says of it, for `quarantine unpack`. */
function quarantinedBatch(batch: RefusedBatch): QuarantinedBatch {
  return {
    firstOffset: batch.firstOffset,
    lastOffset: batch.lastOffset,
    ...(batch.from === undefined ? {} : { from: batch.from }),
  };
}

/** created → adopting → running → closed; `closed` is final (a new assignment makes a new task). */
export type TaskStatus = 'created' | 'adopting' | 'running' | 'closed';

/**
 * A task: partition p of a mapping's inputs, its state, and (exactly-once) its own
 * transactional producer whose ID is bound to the task, not the process (kafkajs has no
 * KIP-447). Whoever initialises that ID last is the only one able to commit for the task,
 * and a task reads its state only after initialising it — so its state is always what the
 * last committed transaction left. A fenced task never initialises again: it closes dirty
 * and a later assignment creates a new task.
 *
 * Work on a task runs one piece at a time (`exclusive`).
 */
export class Task {
  readonly key: string;
  readonly partition: number;
  readonly pipeline: Pipeline;
  readonly changelog: string;
  readonly transactionalId: string;
  private readonly context: TaskContext;
  private readonly ports: TaskPorts;
  private state: TaskState;
  private producer: TaskProducer | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private restoreProgress: RestoreProgress = new Map();
  status: TaskStatus = 'created';
  /** Aborts adoption (restore, backoff) when the task is revoked, lost or shut down. */
  readonly abort = new AbortController();
  /** Consecutive transient failures: the backoff grows with them, a commit resets them. */
  failures = 0;
  /** When the current run of failures began (for /readyz's stall threshold). */
  failingSince: number | undefined;

  constructor(pipeline: Pipeline, partition: number, context: TaskContext, ports: TaskPorts) {
    this.pipeline = pipeline;
    this.partition = partition;
    this.context = context;
    this.ports = ports;
    this.key = `${pipeline.name}/${partition}`;
    this.changelog = changelogTopic(context.groupId, pipeline.name);
    this.transactionalId = `${context.groupId}.${pipeline.name}.${partition}`;
    this.state = this.newState();
    // Its counters at zero before its first record (a no-op once the mapping is tracked).
    context.metrics.track([pipeline]);
  }

  private newState(): TaskState {
    return new TaskState(this.context.dedupWindow, this.context.stateRetentionMs ?? Infinity);
  }

  /** Runs `work` after everything queued before it on this task. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const next = this.chain.then(work, work);
    this.chain = next.catch(() => undefined);
    return next;
  }

  get closed(): boolean {
    return this.status === 'closed';
  }

  get running(): boolean {
    return this.status === 'running';
  }

  /** The state, read-only, for tests and the simulation's checks. */
  get stateView(): TaskState {
    return this.state;
  }

  /**
   * One attempt at adopting the task: initialise the producer (fencing every earlier owner
   * and aborting what it left open), read the changelog partition to its end (resuming where
   * a failed attempt stopped), then learn where each input is committed — all after the
   * fence, so nothing the previous owner committed can be missed. Throws a TaskFailure.
   */
  async adopt(): Promise<void> {
    if (this.closed) throw this.closedFailure();
    this.status = 'adopting';
    const signal = this.abort.signal;
    if (!this.producer) {
      const producer = this.ports.createProducer({
        guarantee: this.context.guarantee,
        transactionalId: this.transactionalId,
      });
      try {
        if (signal.aborted) throw this.closedFailure();
        await producer.init(signal);
      } catch (error) {
        await producer.close();
        throw this.revoked()
          ? this.closedFailure()
          : kafkaFailure(this.key, 'Starting the producer', error);
      }
      if (this.revoked()) {
        await producer.close();
        throw this.closedFailure();
      }
      this.producer = producer;
    }
    try {
      const { records } = await this.ports.changelog.restore(
        this.changelog,
        this.partition,
        (key, value, timestamp) => {
          this.state.restoreRecord(key, value, timestamp);
        },
        this.restoreProgress,
        signal,
      );
      if (this.revoked()) throw this.closedFailure();
      const committed = await this.ports.offsets.committed(this.pipeline.topics, this.partition);
      if (this.revoked()) throw this.closedFailure();
      for (const [topic, offset] of committed) this.state.resumeFrom(topic, offset);
      this.status = 'running';
      this.context.logger.info(
        { task: this.key, records, clocks: this.state.clocks.size },
        'task adopted; state restored',
      );
    } catch (error) {
      throw this.revoked() ? this.closedFailure() : kafkaFailure(this.key, 'Restoring', error);
    }
  }

  /**
   * Checks, for a task kept across a rebalance, that no one else committed for it meanwhile
   * (the group's committed offsets are where this task left them). Batches wait meanwhile.
   * Throws an `uncertain` TaskFailure when it is stale.
   */
  async verify(): Promise<void> {
    if (this.status !== 'running') return;
    this.status = 'adopting';
    try {
      const committed = await this.ports.offsets.committed(this.pipeline.topics, this.partition);
      if (this.revoked()) throw this.closedFailure();
      for (const [topic, offset] of committed) {
        const known = this.state.committedOffset(topic);
        if (known === undefined || offset > known) {
          throw new TaskFailure(
            'uncertain',
            new MembraneError(
              'kafka.task-stale',
              `Task ${this.key} was committed up to ${offset} of ${topic} by another member while this one missed a rebalance (it knew ${known ?? 'nothing'}); adopting it again.`,
            ),
          );
        }
      }
      this.status = 'running';
    } catch (error) {
      throw this.revoked()
        ? this.closedFailure()
        : error instanceof TaskFailure
          ? error
          : kafkaFailure(this.key, 'Checking the committed offsets', error);
    }
  }

  /** Revoked, lost or shut down (a method: TypeScript would narrow the field across awaits). */
  private revoked(): boolean {
    return this.abort.signal.aborted;
  }

  private closedFailure(): TaskFailure {
    return new TaskFailure(
      'migrated',
      new MembraneError(
        'kafka.task-migrated',
        `Task ${this.key} was closed (revoked, lost or shut down); it writes nothing more.`,
      ),
    );
  }

  /**
   * Closes the task. Clean: the caller waited for the chunk in flight (`exclusive`). Dirty
   * (migrated, lost): nothing more is committed and the in-memory state is discarded. Either
   * way the task never writes again.
   */
  async close(mode: 'clean' | 'dirty'): Promise<void> {
    if (this.status === 'closed') return;
    this.status = 'closed';
    this.abort.abort(this.closedFailure());
    const producer = this.producer;
    this.producer = undefined;
    if (mode === 'dirty') {
      this.state.rollback();
      this.state = this.newState();
    }
    await producer?.close();
    this.context.logger.info({ task: this.key, mode }, 'task closed');
  }

  /**
   * Why a commit failed. A transient failure may still have committed (the answer lost, not
   * the request): `uncertain`. But first, a topic deleted under membrane shows only as
   * transient errors (kafkajs reports the first partition error of a transaction's
   * AddPartitionsToTxn answer, often another partition's OPERATION_NOT_ATTEMPTED, or retries
   * UNKNOWN_TOPIC_OR_PARTITION): ask the cluster, and stop (fatal) when one is gone.
   */
  private async commitFailure(error: unknown, topics: readonly string[]): Promise<TaskFailure> {
    const failure = kafkaFailure(this.key, 'Committing', error, topics);
    const topicMissing = failure.kind === 'fatal' && failure.error.code === 'kafka.topic-missing';
    if (failure.kind !== 'transient' && !topicMissing) return failure;
    // Which one is gone: kafkajs does not say.
    const missing = await this.ports.topics.missing(topics).catch(() => []);
    if (missing.length === 0 && topicMissing) return failure;
    if (missing.length > 0) {
      return new TaskFailure(
        'fatal',
        new MembraneError(
          'kafka.topic-missing',
          `Topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} that membrane writes to do${missing.length > 1 ? '' : 'es'} not exist (deleted while membrane was running?); nothing of the failed transaction was committed.`,
          {
            cause: error,
            hint: 'recreate the topic (MEMBRANE_CREATE_TOPICS=true does it at startup) and start membrane again',
          },
        ),
      );
    }
    return new TaskFailure('uncertain', failure.error);
  }

  /**
   * A refused batch, saying where its unprocessed records begin when the group's position is
   * inside it: records before that were read (under higher limits) and committed already.
   */
  private unprocessedPart(topic: string, batch: RefusedBatch): RefusedBatch {
    const position = this.state.committedOffset(topic);
    if (position === undefined || position <= BigInt(batch.firstOffset)) return batch;
    if (position > BigInt(batch.lastOffset)) return batch;
    return { ...batch, from: position.toString() };
  }

  /** How many leading records are already committed (see TaskState.alreadyCommitted). */
  alreadyCommitted(topic: string, records: readonly InputRecord[]): number {
    return this.state.alreadyCommitted(
      topic,
      records.map((r) => r.offset),
    );
  }

  /**
   * Processes records of one input topic of this task and commits the results with the
   * input position, all or nothing. Bad records become quarantine records. A failure — in
   * the pipeline or at the commit, whatever was thrown — rolls the chunk's state back and is
   * returned classified; nothing of the chunk is then committed. Past `budgetMs` of
   * processing the chunk ends early and commits what it has.
   */
  async process(
    topic: string,
    records: readonly InputRecord[],
    budgetMs = Infinity,
  ): Promise<ChunkOutcome> {
    if (this.status !== 'running' || !this.producer) {
      return { committed: 0, failure: this.closedFailure() };
    }
    const producer = this.producer;
    try {
      return await this.processOrThrow(topic, records, budgetMs, producer);
    } catch (error) {
      // Whatever was thrown, the chunk did not commit: its clocks and IDs never happened.
      this.state.rollback();
      // A task closed under the chunk (lost, revoked, shut down) failed because of that.
      const failure = this.closed ? this.closedFailure() : pipelineFailure(this.key, error);
      return { committed: 0, failure };
    }
  }

  private async processOrThrow(
    topic: string,
    records: readonly InputRecord[],
    budgetMs: number,
    producer: TaskProducer,
  ): Promise<ChunkOutcome> {
    const { metrics, logger } = this.context;
    const mapping = this.pipeline.name;
    const byTopic = new Map<string, OutRecord[]>();
    const push = (target: string, record: OutRecord): void => {
      let list = byTopic.get(target);
      if (!list) byTopic.set(target, (list = []));
      list.push(record);
    };
    const counts = {
      out: new Map<string, number>(),
      quarantined: new Map<string, number>(),
      // By cause: one object per route, `otherwise` and duplicates (see Pipeline.drops).
      dropped: new Map<DropCause, number>(),
    };
    const bump = <K>(map: Map<K, number>, label: K): void => {
      map.set(label, (map.get(label) ?? 0) + 1);
    };
    const quarantinedAt = this.context.now().toISOString();
    const clock = this.ports.clock;
    const deadline = clock.now() + budgetMs;
    let processed = 0;
    for (const record of records) {
      // Past the budget, the chunk ends and commits: a large backlog still goes out in
      // transactions at least every `budgetMs`, and a few costly records (a header flood
      // beyond MEMBRANE_MAX_HEADERS, quarantined with all its headers) hold a partition no
      // longer than one of them takes. Checked after every record: a clock read is cheap.
      if (processed > 0 && clock.now() >= deadline) break;
      const source: SourceRecord = {
        topic,
        partition: this.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        key: record.key,
        value: record.value,
        headers: record.headers ?? {},
        ...(record.refusedBatch === undefined
          ? {}
          : { refusedBatch: this.unprocessedPart(topic, record.refusedBatch) }),
      };
      const result = await this.pipeline.process(source, this.state.clocks, this.state.dedup);
      if (this.closed) throw this.closedFailure();
      if (result.kind === 'pass') {
        for (const output of result.outputs) {
          push(output.topic, { key: output.key, value: output.value, headers: output.headers });
          bump(counts.out, output.topic);
        }
      } else if (result.kind === 'quarantine') {
        const encoded = encodeQuarantine(
          source,
          {
            source: {
              topic,
              partition: this.partition,
              offset: record.offset,
              timestamp: record.timestamp,
            },
            mapping: this.pipeline.ref,
            stage: result.stage,
            issues: result.issues,
            id: result.id,
            quarantinedAt,
            attempt: 1,
            ...(source.refusedBatch === undefined
              ? {}
              : { batch: quarantinedBatch(source.refusedBatch) }),
          },
          this.context.quarantineMaxBytes,
        );
        push(this.context.quarantineTopic, encoded);
        const code = result.issues[0]?.code ?? result.stage;
        bump(counts.quarantined, code);
        // A sample (rate-limited, the rest counted in a summary line): the metric counts all.
        if (quarantineLineAllowed(logger, code))
          logger.warn(
            {
              task: this.key,
              topic,
              offset: record.offset,
              mapping: this.pipeline.ref,
              code,
              stage: result.stage,
            },
            'record quarantined',
          );
      } else {
        bump(counts.dropped, result.cause);
      }
      processed += 1;
    }
    if (processed === 0) return { committed: 0, failure: undefined };
    const next = BigInt(records[processed - 1]?.offset ?? '0') + 1n;
    const committedAt = clock.now();
    const changelog = this.state.changelogRecords(this.partition, committedAt);
    if (changelog.length > 0) byTopic.set(this.changelog, changelog);
    const timer = metrics.transactionSeconds.startTimer({ mapping });
    try {
      await producer.commit(
        [...byTopic].map(([target, messages]) => {
          const maxBatchBytes =
            target === this.context.quarantineTopic
              ? this.context.quarantineMaxBytes
              : this.pipeline.outputLimit(target);
          return {
            topic: target,
            messages,
            ...(target === this.changelog ? { state: true } : {}),
            ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
          };
        }),
        { topic, partition: this.partition, offset: next.toString() },
      );
    } catch (error) {
      timer();
      // Revoked or lost mid-commit: the failure does not matter any more (a fence, a closed
      // producer); the task's next owner has the records.
      if (this.revoked()) throw this.closedFailure();
      throw await this.commitFailure(error, [...byTopic.keys()]);
    }
    timer();
    this.state.commit(topic, next, committedAt);
    this.failures = 0;
    this.failingSince = undefined;
    metrics.recordsIn.inc({ mapping }, processed);
    for (const [target, n] of counts.out) metrics.recordsOut.inc({ mapping, topic: target }, n);
    for (const [code, n] of counts.quarantined) metrics.quarantined.inc({ mapping, code }, n);
    for (const [cause, n] of counts.dropped) {
      metrics.countDrops(mapping, cause, n);
      // Drops are what the mapping asks for: the metric counts them by kind and route; their
      // free-text reason goes to the debug log, one line per cause a chunk, never one a record.
      logger.debug(
        {
          task: this.key,
          mapping: this.pipeline.ref,
          kind: cause.kind,
          route: cause.route,
          count: n,
        },
        `records dropped: ${cause.reason}`,
      );
    }
    return { committed: processed, failure: undefined };
  }
}
