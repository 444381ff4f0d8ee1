import type { Server } from 'node:http';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { taskAssigner } from '../adapters/kafka/assigner.js';
import { createKafka } from '../adapters/kafka/client.js';
import { restorePartitions } from '../adapters/kafka/restore.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  ensureTopics,
  maxMessageBytes,
} from '../adapters/kafka/topics.js';
import { ConfluentRegistryPort } from '../adapters/registry/port.js';
import { MembraneError, messageOf } from '../core/errors.js';
import { compileMapping } from '../mapping/compile.js';
import { loadMappingFile } from '../mapping/load.js';
import { findFiles, isMappingFile } from '../mapping/files.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { RunConfig } from './config.js';
import { startHttp } from './http.js';
import { Metrics } from './metrics.js';
import { changelogTopic, Task, taskProducers, type TaskContext } from './task.js';

/** Loads and compiles every mapping under the configured folder; problems are fatal. */
export async function loadPipelines(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
): Promise<Pipeline[]> {
  const files = await findFiles([config.MEMBRANE_MAPPINGS], isMappingFile);
  if (files.length === 0) {
    throw new MembraneError(
      'config.no-mappings',
      `No mapping files (*.yaml) in ${config.MEMBRANE_MAPPINGS}.`,
      {
        hint: 'set MEMBRANE_MAPPINGS to the folder with your mappings',
      },
    );
  }
  const registry = new ConfluentRegistryPort({
    url: config.SCHEMA_REGISTRY_URL,
    ...(config.SCHEMA_REGISTRY_USERNAME === undefined
      ? {}
      : { username: config.SCHEMA_REGISTRY_USERNAME }),
    ...(config.SCHEMA_REGISTRY_PASSWORD === undefined
      ? {}
      : { password: config.SCHEMA_REGISTRY_PASSWORD }),
  });
  const pipelines: Pipeline[] = [];
  for (const file of files)
    pipelines.push(await compileMapping(await loadMappingFile(file, env), { registry }));
  const owners = new Map<string, string>();
  for (const pipeline of pipelines) {
    for (const topic of pipeline.topics) {
      const other = owners.get(topic);
      if (other !== undefined) {
        throw new MembraneError(
          'config.topic-shared',
          `Topic ${topic} is an input of both ${other} and ${pipeline.name}; a topic can feed one mapping.`,
          {
            hint: 'merge the two mappings into one with several routes',
          },
        );
      }
      owners.set(topic, pipeline.name);
    }
  }
  return pipelines;
}

/**
 * Checks the cluster before joining: inputs exist and each mapping's inputs are
 * co-partitioned; creates (or checks) output and quarantine topics.
 */
export async function prepareTopics(
  admin: Admin,
  pipelines: readonly Pipeline[],
  config: RunConfig,
): Promise<{ readonly warnings: readonly string[] }> {
  const warnings: string[] = [];
  const existing = new Set(await admin.listTopics());
  const inputs = pipelines.flatMap((p) => p.topics);
  const missing = inputs.filter((topic) => !existing.has(topic));
  if (missing.length > 0) {
    throw new MembraneError(
      'config.input-missing',
      `Input topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} do${missing.length > 1 ? '' : 'es'} not exist.`,
      {
        hint: 'create them, or fix `source.topics` in the mapping',
      },
    );
  }
  const metadata = await admin.fetchTopicMetadata({ topics: inputs });
  const partitions = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  for (const pipeline of pipelines) {
    const counts = pipeline.topics.map(
      (topic) => `${topic} (${partitions.get(topic) ?? 0} partitions)`,
    );
    if (new Set(pipeline.topics.map((topic) => partitions.get(topic))).size > 1) {
      throw new MembraneError(
        'config.not-copartitioned',
        `Mapping ${pipeline.name} reads ${counts.join(' and ')}: the inputs of one mapping must have the same number of partitions, so that one member sees every record of an aggregate.`,
        { hint: 'repartition the inputs to the same partition count (and the same key)' },
      );
    }
  }
  const outputs = [
    ...new Set([...pipelines.flatMap((p) => p.outputTopics()), config.MEMBRANE_QUARANTINE_TOPIC]),
  ];
  // A quarantine record is an upstream record byte for byte plus membrane's headers: its
  // topic must take more than the largest record any input can carry.
  const quarantine = config.MEMBRANE_QUARANTINE_TOPIC;
  const quarantineBytes =
    Math.max(DEFAULT_MAX_MESSAGE_BYTES, ...(await maxMessageBytes(admin, inputs)).values()) +
    QUARANTINE_HEADROOM_BYTES;
  if (config.MEMBRANE_CREATE_TOPICS) {
    await ensureTopics(
      admin,
      outputs.map((topic) => ({
        topic,
        numPartitions: config.MEMBRANE_TOPIC_PARTITIONS,
        replicationFactor: config.MEMBRANE_TOPIC_REPLICATION,
        ...(topic === quarantine
          ? { configEntries: [{ name: 'max.message.bytes', value: String(quarantineBytes) }] }
          : {}),
      })),
    );
  } else {
    const absent = outputs.filter((topic) => !existing.has(topic));
    if (absent.length > 0) {
      throw new MembraneError(
        'config.output-missing',
        `Output topics ${absent.join(', ')} do not exist and MEMBRANE_CREATE_TOPICS=false.`,
        {
          hint: 'create them, or let membrane create them',
        },
      );
    }
  }
  const limits = await limitOutputs(admin, pipelines, outputs);
  const have = limits.get(quarantine) ?? 0;
  if (have < quarantineBytes) {
    warnings.push(
      `Quarantine topic ${quarantine} takes records of at most ${have} bytes (max.message.bytes), but an input record can be as large and membrane adds headers: quarantining a record near the inputs' limit would fail and stall its partition. Raise its max.message.bytes to ${quarantineBytes}.`,
    );
  }
  // State changelogs: compacted, one partition per task. Always ours to create.
  await ensureTopics(
    admin,
    pipelines.map((pipeline) => ({
      topic: changelogTopic(config.MEMBRANE_GROUP_ID, pipeline.name),
      numPartitions: partitions.get(pipeline.topics[0] ?? '') ?? 1,
      replicationFactor: config.MEMBRANE_TOPIC_REPLICATION,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    })),
  );
  const changelogs = await admin.fetchTopicMetadata({
    topics: pipelines.map((p) => changelogTopic(config.MEMBRANE_GROUP_ID, p.name)),
  });
  for (const pipeline of pipelines) {
    const topic = changelogTopic(config.MEMBRANE_GROUP_ID, pipeline.name);
    const have = changelogs.topics.find((t) => t.name === topic)?.partitions.length;
    const want = partitions.get(pipeline.topics[0] ?? '');
    if (have !== want) {
      throw new MembraneError(
        'config.changelog-mismatch',
        `State changelog ${topic} has ${have ?? 0} partitions but the inputs of ${pipeline.name} have ${want ?? 0}.`,
        {
          hint: 'inputs were repartitioned: delete the changelog (clocks restart) or restore the partition count',
        },
      );
    }
  }
  return { warnings };
}

/**
 * Tells each pipeline what its output topics take (`max.message.bytes`), so that a translated
 * record that would not fit is quarantined as `encode.too-large` rather than failing its
 * produce for ever. `topics` are those known to exist; returns every limit it read.
 */
export async function limitOutputs(
  admin: Admin,
  pipelines: Iterable<Pipeline>,
  topics: readonly string[],
): Promise<ReadonlyMap<string, number>> {
  const limits = await maxMessageBytes(admin, topics);
  for (const pipeline of pipelines) {
    const own = pipeline.outputTopics().flatMap((topic): [string, number][] => {
      const limit = limits.get(topic);
      return limit === undefined ? [] : [[topic, limit]];
    });
    pipeline.limitOutputs(new Map(own));
  }
  return limits;
}

/** Room for membrane's headers on a quarantined record, above the inputs' largest record. */
const QUARANTINE_HEADROOM_BYTES = 1024 * 1024;

export interface RuntimeOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
}

/**
 * `membrane run`: one consumer-group member. Poll a batch of one topic-partition, run it
 * through the mapping in chunks, commit each chunk's outputs, quarantine records and input
 * offsets together (one transaction per chunk in exactly-once mode), repeat.
 */
export class Runtime {
  readonly metrics = new Metrics();
  private readonly config: RunConfig;
  private readonly logger: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => Date;
  private kafka: Kafka | undefined;
  private consumer: Consumer | undefined;
  private http: Server | undefined;
  private readonly tasks = new Map<string, Task>();
  private readonly pipelines = new Map<string, Pipeline>();
  private readonly topicOwner = new Map<string, Pipeline>();
  private joined = false;
  private stopping = false;
  httpPort: number | undefined;

  constructor(options: RuntimeOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.env = options.env ?? process.env;
    this.now = options.now ?? (() => new Date());
  }

  get ready(): boolean {
    return this.joined && !this.stopping && [...this.tasks.values()].every((task) => task.restored);
  }

  async start(): Promise<void> {
    const { config, logger } = this;
    const pipelines = await loadPipelines(config, this.env);
    for (const pipeline of pipelines) {
      this.pipelines.set(pipeline.name, pipeline);
      for (const topic of pipeline.topics) this.topicOwner.set(topic, pipeline);
    }
    const kafka = createKafka({
      brokers: config.KAFKA_BROKERS,
      clientId: config.KAFKA_CLIENT_ID,
      logger,
      ssl: config.KAFKA_SSL,
      ...(config.KAFKA_SASL_MECHANISM === undefined
        ? {}
        : {
            sasl: {
              mechanism: config.KAFKA_SASL_MECHANISM,
              username: config.KAFKA_SASL_USERNAME ?? '',
              password: config.KAFKA_SASL_PASSWORD ?? '',
            },
          }),
    });
    this.kafka = kafka;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { warnings } = await prepareTopics(admin, pipelines, config);
      for (const warning of warnings) logger.warn(warning);
    } finally {
      await admin.disconnect();
    }

    const http = await startHttp(config.MEMBRANE_HTTP_PORT, this.metrics, () => this.ready);
    this.http = http.server;
    this.httpPort = http.port;

    const consumer = kafka.consumer({
      groupId: config.MEMBRANE_GROUP_ID,
      partitionAssigners: [taskAssigner(new Map(pipelines.map((p) => [p.name, p.topics])))],
      readUncommitted: false,
      // A fetch waits up to the commit interval for this many bytes: under light load records
      // gather into fewer, larger transactions; under heavy load batches are full anyway.
      maxWaitTimeInMs: config.MEMBRANE_COMMIT_INTERVAL_MS,
      minBytes: config.MEMBRANE_FETCH_MIN_BYTES,
      // How long a member that died (SIGKILL, lost host) holds its partitions.
      sessionTimeout: config.MEMBRANE_SESSION_TIMEOUT_MS,
      heartbeatInterval: Math.min(1_000, config.MEMBRANE_SESSION_TIMEOUT_MS / 3),
      rebalanceTimeout: 30_000,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.joined = true;
      this.metrics.rebalances.inc();
      void this.reassign(event.payload.memberAssignment);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...this.topicOwner.keys()], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every task this member owns at once (up to the limit): while one waits for its
      // transaction, the others use the CPU.
      partitionsConsumedConcurrently: config.MEMBRANE_TASK_CONCURRENCY,
      eachBatch: (payload) => this.onBatch(payload),
    });
    logger.info(
      {
        mappings: pipelines.map((p) => p.ref),
        group: config.MEMBRANE_GROUP_ID,
        guarantee: config.MEMBRANE_PROCESSING_GUARANTEE,
        http: this.httpPort,
      },
      'membrane is running',
    );
  }

  /** Keeps tasks this member still owns; closes the others' producers. */
  private async reassign(assignment: Record<string, number[]>): Promise<void> {
    const owned = new Map<string, { pipeline: Pipeline; partition: number }>();
    for (const [topic, partitions] of Object.entries(assignment)) {
      const pipeline = this.topicOwner.get(topic);
      if (pipeline)
        for (const partition of partitions)
          owned.set(`${pipeline.name}/${partition}`, { pipeline, partition });
    }
    this.adopt([...owned.values()]);
    this.metrics.tasks.set(owned.size);
    this.logger.info({ tasks: [...owned.keys()].sort() }, 'tasks assigned');
    for (const [key, task] of this.tasks) {
      if (!owned.has(key)) {
        this.tasks.delete(key);
        await task.exclusive(() => task.close());
      }
    }
  }

  /**
   * Creates the tasks not yet here and restores their state: fence the previous owner (by
   * initialising the task's transactional ID), then read the changelog partitions to their
   * end. Until then, their batches wait.
   */
  private adopt(wanted: readonly { pipeline: Pipeline; partition: number }[]): void {
    const fresh = new Map<Pipeline, Task[]>();
    for (const { pipeline, partition } of wanted) {
      if (this.tasks.has(`${pipeline.name}/${partition}`)) continue;
      const task = this.task(pipeline, partition);
      const list = fresh.get(pipeline) ?? [];
      list.push(task);
      fresh.set(pipeline, list);
    }
    for (const [pipeline, tasks] of fresh) {
      const restoring = this.restore(pipeline, tasks);
      for (const task of tasks) task.restoring = restoring;
    }
  }

  private async restore(pipeline: Pipeline, tasks: readonly Task[]): Promise<void> {
    const kafka = this.kafka;
    if (!kafka) throw new Error('not started');
    const byPartition = new Map(tasks.map((task) => [task.partition, task]));
    for (let attempt = 1; ; attempt++) {
      try {
        await Promise.all(tasks.map((task) => task.fence()));
        const { records, ms } = await restorePartitions(
          kafka,
          changelogTopic(this.config.MEMBRANE_GROUP_ID, pipeline.name),
          [...byPartition.keys()],
          (partition, { key, value }) => {
            if (key !== null) {
              byPartition
                .get(partition)
                ?.restoreRecord(
                  key.toString('utf8'),
                  value === null ? null : value.toString('utf8'),
                );
            }
          },
          { groupPrefix: this.config.MEMBRANE_GROUP_ID },
        );
        this.logger.info(
          { mapping: pipeline.name, partitions: [...byPartition.keys()], records, ms },
          'state restored',
        );
        // Now that the previous owner is fenced and its last transaction settled, where
        // does each input partition really resume?
        const admin = kafka.admin();
        await admin.connect();
        try {
          const committed = await admin.fetchOffsets({
            groupId: this.config.MEMBRANE_GROUP_ID,
            topics: [...pipeline.topics],
          });
          for (const { topic, partitions } of committed)
            for (const { partition, offset } of partitions)
              byPartition.get(partition)?.resumeFrom(topic, offset);
        } finally {
          await admin.disconnect();
        }
        return;
      } catch (error) {
        if (this.stopping) return;
        const delay = this.backoff(attempt);
        this.logger.warn(
          { mapping: pipeline.name, error: messageOf(error), retryInMs: delay },
          'restoring state failed; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private task(pipeline: Pipeline, partition: number): Task {
    const key = `${pipeline.name}/${partition}`;
    let task = this.tasks.get(key);
    if (!task) {
      const kafka = this.kafka;
      if (!kafka) throw new Error('not started');
      const context: TaskContext = {
        groupId: this.config.MEMBRANE_GROUP_ID,
        quarantineTopic: this.config.MEMBRANE_QUARANTINE_TOPIC,
        guarantee: this.config.MEMBRANE_PROCESSING_GUARANTEE,
        metrics: this.metrics,
        logger: this.logger,
        now: this.now,
        dedupWindow: this.config.MEMBRANE_DEDUP_WINDOW,
        commitOffsets: async (topic, p, offset) => {
          await this.consumer?.commitOffsets([{ topic, partition: p, offset }]);
        },
      };
      task = new Task(pipeline, partition, context, taskProducers(kafka));
      this.tasks.set(key, task);
    }
    return task;
  }

  private async onBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const pipeline = this.topicOwner.get(batch.topic);
    if (!pipeline || batch.messages.length === 0) return;
    // A batch of a partition this member just lost must not adopt (and so fence) its task.
    if (payload.isStale() || !payload.isRunning()) return;
    if (!this.tasks.has(`${pipeline.name}/${batch.partition}`))
      this.adopt([{ pipeline, partition: batch.partition }]);
    const task = this.task(pipeline, batch.partition);
    // No record before the task's state is back; keep the membership alive meanwhile.
    while (!task.restored) {
      await payload.heartbeat().catch(() => undefined);
      await Promise.race([task.restoring, new Promise((resolve) => setTimeout(resolve, 1000))]);
      if (!payload.isRunning() || payload.isStale()) return;
    }
    const timer = this.metrics.batchSeconds.startTimer({ mapping: pipeline.name });
    await task.exclusive(async () => {
      let messages = batch.messages;
      const skipped = task.alreadyCommitted(batch.topic, messages);
      if (skipped > 0) {
        // Fetched from a position looked up before the previous owner's last commit.
        this.logger.info(
          { task: task.key, topic: batch.topic, partition: batch.partition, records: skipped },
          'skipping records the previous owner already committed',
        );
        payload.resolveOffset(messages[skipped - 1]?.offset ?? '0');
        messages = messages.slice(skipped);
      }
      let attempt = 0;
      while (messages.length > 0 && payload.isRunning() && !payload.isStale() && !this.stopping) {
        const chunk = messages.slice(0, this.config.MEMBRANE_COMMIT_MAX_RECORDS);
        const outcome = await task.processChunk(
          batch.topic,
          chunk,
          this.config.MEMBRANE_COMMIT_INTERVAL_MS,
        );
        if (outcome.committed > 0) {
          const last = chunk[outcome.committed - 1];
          payload.resolveOffset(last?.offset ?? '0');
          messages = messages.slice(outcome.committed);
          attempt = 0;
          const labels = { topic: batch.topic, partition: String(batch.partition) };
          this.metrics.lagRecords.set(
            labels,
            Math.max(0, Number(batch.highWatermark) - Number(last?.offset ?? 0) - 1),
          );
          this.metrics.lagSeconds.set(
            labels,
            Math.max(0, (this.now().getTime() - Number(last?.timestamp ?? 0)) / 1000),
          );
        }
        if (outcome.retry) {
          attempt += 1;
          const delay = this.backoff(attempt);
          this.metrics.retries.inc({ mapping: pipeline.name, code: outcome.retry.code });
          this.logger.warn(
            {
              task: task.key,
              topic: batch.topic,
              partition: batch.partition,
              offset: messages[0]?.offset,
              code: outcome.retry.code,
              retryInMs: delay,
            },
            `retrying after a transient failure: ${outcome.retry.message}`,
          );
          if (attempt >= 3) {
            // Give the partition back to the fetch loop: pause it here, resume after the
            // backoff, and fetch again from the first record not committed.
            const resume = payload.pause();
            this.consumer?.seek({
              topic: batch.topic,
              partition: batch.partition,
              offset: messages[0]?.offset ?? batch.firstOffset() ?? '0',
            });
            setTimeout(resume, delay).unref();
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, delay));
        }
        await payload.heartbeat().catch(() => undefined);
      }
    });
    timer();
  }

  /** Exponential backoff with full jitter, capped. */
  private backoff(attempt: number): number {
    const cap = Math.min(this.config.MEMBRANE_RETRY_MAX_MS, 100 * 2 ** attempt);
    return Math.round(cap / 2 + Math.random() * (cap / 2));
  }

  /** Finishes the chunk in flight, leaves the group, closes producers; bounded in time. */
  /** Resolves `false` when the shutdown timed out (the group was not left cleanly). */
  async stop(): Promise<boolean> {
    if (this.stopping) return true;
    this.stopping = true;
    const work = (async () => {
      await this.consumer?.disconnect().catch((error: unknown) => {
        this.logger.warn({ error: messageOf(error) }, 'leaving the group failed');
      });
      await Promise.all([...this.tasks.values()].map((task) => task.exclusive(() => task.close())));
      this.tasks.clear();
    })();
    let timeout: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => {
      timeout = setTimeout(() => {
        resolve('timeout');
      }, this.config.MEMBRANE_SHUTDOWN_TIMEOUT_MS);
    });
    const result = await Promise.race([work.then(() => 'done' as const), limit]);
    clearTimeout(timeout);
    if (result === 'timeout')
      this.logger.warn(
        { timeoutMs: this.config.MEMBRANE_SHUTDOWN_TIMEOUT_MS },
        'shutdown timed out',
      );
    const http = this.http;
    if (http) {
      await new Promise<void>((resolve) => {
        http.close(() => {
          resolve();
        });
        // A scraper's keep-alive connection must not hold the shutdown up.
        http.closeAllConnections();
      });
    }
    this.logger.info('membrane stopped');
    return result === 'done';
  }
}
