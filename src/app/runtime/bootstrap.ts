import type { Server } from 'node:http';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { taskAssigner } from '../../adapters/kafka/assigner.js';
import { createKafka } from '../../adapters/kafka/client.js';
import { decodingLimits, limitDecoding } from '../../adapters/kafka/codecs.js';
import {
  classifyKafkaError,
  fatalKafkaError,
  withKafkaErrors,
} from '../../adapters/kafka/errors.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { reachRegistry, registryOptions } from '../../adapters/registry/connection.js';
import {
  AtLeastOnceTaskProducer,
  kafkaChangelog,
  kafkaOffsets,
  kafkaTopics,
  TransactionalTaskProducer,
} from '../../adapters/kafka/task-ports.js';
import { MembraneError, messageOf } from '../../core/errors.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import type { RunConfig } from '../config.js';
import { startHttp } from '../http.js';
import { Metrics } from '../metrics.js';
import { mappingVersions } from '../versions.js';
import { BatchLoop } from './loop.js';
import { systemClock, type Clock, type TaskPorts } from './ports.js';
import { TaskManager } from './task-manager.js';
import { loadPipelines, prepareTopics } from './topics.js';

export { limitOutputs, loadPipelines, prepareTopics } from './topics.js';

export interface RuntimeOptions {
  readonly config: RunConfig;
  readonly logger: Logger;
  readonly env?: NodeJS.ProcessEnv;
  readonly now?: () => Date;
  readonly clock?: Clock;
}

/**
 * `membrane run`, put together: configuration, topics, HTTP, the group consumer, and the
 * task manager and batch loop it drives. kafkajs's fetch loop polls; each batch goes to the
 * loop (process → commit); each rebalance goes to the task manager.
 */
export class Runtime {
  readonly metrics = new Metrics();
  private readonly config: RunConfig;
  private readonly logger: Logger;
  private readonly env: NodeJS.ProcessEnv;
  private readonly now: () => Date;
  private readonly clock: Clock;
  private kafka: Kafka | undefined;
  private admin: Admin | undefined;
  private consumer: Consumer | undefined;
  private manager: TaskManager | undefined;
  private http: Server | undefined;
  private joined = false;
  private stopping = false;
  private crashed: string | undefined;
  /** kafkajs's decoding limits before this runtime set its own. */
  private decodingBefore: ReturnType<typeof decodingLimits> | undefined;
  /** When the fetch loop last showed it was alive (a fetch, a heartbeat, a batch). */
  private lastAlive = Date.now();
  private resolveFailed: (error: MembraneError) => void = () => undefined;
  /** Settles with the fatal error that stopped membrane, if one does. */
  readonly failed = new Promise<MembraneError>((resolve) => {
    this.resolveFailed = resolve;
  });
  httpPort: number | undefined;

  constructor(options: RuntimeOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.env = options.env ?? process.env;
    this.now = options.now ?? (() => new Date());
    this.clock = options.clock ?? systemClock;
  }

  /** /readyz: joined, every assigned task restored, none stalled past the threshold. */
  get ready(): boolean {
    return (
      this.joined &&
      !this.stopping &&
      (this.manager?.ready(this.clock.now(), this.config.MEMBRANE_STALL_THRESHOLD_MS) ?? false)
    );
  }

  /**
   * /healthz: false once the consumer crashed for good, membrane hit a fatal error, or the
   * fetch loop has shown no sign of life (no fetch, heartbeat or batch) for far longer than
   * the session timeout — a wedged loop.
   */
  get alive(): boolean {
    if (this.crashed !== undefined || this.manager?.failed) return false;
    const wedgedAfter = Math.max(60_000, 4 * this.config.MEMBRANE_SESSION_TIMEOUT_MS);
    return !this.joined || this.clock.now() - this.lastAlive < wedgedAfter;
  }

  /**
   * Binds the HTTP port, checks the registry and the brokers, prepares topics and joins the
   * group. A failure closes what was opened (the HTTP server, Kafka clients) and rejects with
   * it: a MembraneError naming the variable to fix for an infrastructure fault.
   */
  async start(): Promise<void> {
    try {
      await this.startAll();
    } catch (error) {
      await this.closeAfterFailedStart();
      throw error;
    }
  }

  private async closeAfterFailedStart(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
    await this.admin?.disconnect().catch(() => undefined);
    const http = this.http;
    if (http) {
      http.closeAllConnections();
      await new Promise<void>((resolve) => {
        http.close(() => {
          resolve();
        });
      });
    }
  }

  private async startAll(): Promise<void> {
    const { config, logger } = this;
    // The HTTP port first: taken, it is a configuration fault found before any connection.
    // /readyz says "not ready" until the group is joined; /healthz "ok" while starting.
    const http = await startHttp(
      config.MEMBRANE_HTTP_PORT,
      this.metrics,
      () => this.ready,
      () => this.alive,
    );
    this.http = http.server;
    this.httpPort = http.port;
    // The registry and the brokers first, each bounded by KAFKA_CONNECT_TIMEOUT_MS: a
    // fault of either ends the start in one sentence naming the variable to fix.
    await reachRegistry(registryOptions(config), config.KAFKA_CONNECT_TIMEOUT_MS);
    const pipelines = await loadPipelines(config, this.env);
    const connection = kafkaConnection(config);
    await reachKafka(connection, {
      onRetry: (error, attempt) => {
        logger.debug({ attempt, error: messageOf(error) }, 'the brokers do not answer yet');
      },
    });
    // A record is judged before it costs more than its size: kafkajs decodes at most one
    // header more than MEMBRANE_MAX_HEADERS of any record it fetches for this process, and a
    // compressed batch beyond MEMBRANE_MAX_BATCH_RECORDS / _BYTES not at all (it arrives as
    // one record standing for the batch, quarantined as trust.batch-refused).
    // (Process-wide in kafkajs: put back at stop, so a process that reads membrane's own
    // quarantine records afterwards — a flooded record's keeps its first headers, then
    // membrane's — reads them whole.)
    this.decodingBefore ??= decodingLimits();
    limitDecoding({
      maxHeaders: config.MEMBRANE_MAX_HEADERS,
      maxRecordsPerBatch: config.MEMBRANE_MAX_BATCH_RECORDS,
      maxBatchBytes: config.MEMBRANE_MAX_BATCH_BYTES,
    });
    const kafka = createKafka({ ...clientOptions(connection), logger });
    this.kafka = kafka;
    const admin = kafka.admin();
    this.admin = admin;
    await admin.connect();
    // What the cluster refuses here (an ACL on a topic) is one sentence, exit 77, not a bug.
    const { warnings, quarantineMaxBytes } = await withKafkaErrors(() =>
      prepareTopics(admin, pipelines, config),
    );
    for (const warning of warnings) logger.warn(warning);

    const consumer = kafka.consumer({
      groupId: config.MEMBRANE_GROUP_ID,
      partitionAssigners: [
        taskAssigner(new Map(pipelines.map((p) => [p.name, p.topics])), {
          ownedTasks: () => this.manager?.ownedTasks() ?? [],
          versions: mappingVersions(pipelines),
        }),
      ],
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
    const ports: TaskPorts = {
      createProducer: ({ guarantee, transactionalId }) =>
        guarantee === 'at_least_once'
          ? new AtLeastOnceTaskProducer(kafka, transactionalId, config.MEMBRANE_GROUP_ID)
          : new TransactionalTaskProducer(kafka, transactionalId, config.MEMBRANE_GROUP_ID),
      offsets: kafkaOffsets(admin, config.MEMBRANE_GROUP_ID),
      topics: kafkaTopics(admin),
      changelog: kafkaChangelog(
        kafka,
        config.MEMBRANE_GROUP_ID,
        config.MEMBRANE_RESTORE_TIMEOUT_MS,
      ),
      clock: this.clock,
    };
    const manager = new TaskManager({
      pipelines,
      context: {
        groupId: config.MEMBRANE_GROUP_ID,
        quarantineTopic: config.MEMBRANE_QUARANTINE_TOPIC,
        quarantineMaxBytes,
        guarantee: config.MEMBRANE_PROCESSING_GUARANTEE,
        metrics: this.metrics,
        logger,
        now: this.now,
        dedupWindow: config.MEMBRANE_DEDUP_WINDOW,
        stateRetentionMs:
          config.MEMBRANE_STATE_RETENTION_MS === 0 ? Infinity : config.MEMBRANE_STATE_RETENTION_MS,
      },
      ports,
      // kafkajs throws here while it restarts a crashed consumer (no group yet); a restarted
      // consumer starts with nothing paused, so there is nothing to do then.
      consumer: {
        pause: (topic, partitions) => {
          try {
            consumer.pause([{ topic, partitions: [...partitions] }]);
          } catch (error) {
            logger.debug({ topic, error: messageOf(error) }, 'pausing failed');
          }
        },
        resume: (topic, partitions) => {
          try {
            consumer.resume([{ topic, partitions: [...partitions] }]);
          } catch (error) {
            logger.debug({ topic, error: messageOf(error) }, 'resuming failed');
          }
        },
      },
      retryMaxMs: config.MEMBRANE_RETRY_MAX_MS,
      // By then a zombie that fenced this member has learned it is out of the group.
      readoptAfterMs: config.MEMBRANE_SESSION_TIMEOUT_MS,
      onFatal: (error) => {
        this.fatal(error);
      },
    });
    this.manager = manager;
    const loop = new BatchLoop({
      manager,
      metrics: this.metrics,
      logger,
      clock: this.clock,
      maxRecords: config.MEMBRANE_COMMIT_MAX_RECORDS,
      commitIntervalMs: config.MEMBRANE_COMMIT_INTERVAL_MS,
      isStopping: () => this.stopping,
    });
    const alive = (): void => {
      this.lastAlive = this.clock.now();
    };
    consumer.on(consumer.events.FETCH_START, alive);
    consumer.on(consumer.events.HEARTBEAT, alive);
    consumer.on(consumer.events.GROUP_JOIN, (event) => {
      this.joined = true;
      alive();
      this.metrics.rebalances.inc();
      void manager.assign(event.payload.memberId, event.payload.memberAssignment);
    });
    consumer.on(consumer.events.CRASH, (event) => {
      const { error, restart } = event.payload;
      if (restart) {
        // Not ready until it has joined again (and its tasks are adopted again).
        this.joined = false;
        this.logger.warn({ error: messageOf(error) }, 'the consumer crashed; kafkajs restarts it');
        return;
      }
      this.crashed = messageOf(error);
      // A refusal the cluster named (ACLs, credentials) is said as such, with exit code 77.
      const classified = classifyKafkaError(error);
      const refused = classified.kind === 'fatal' ? fatalKafkaError(classified, error) : undefined;
      this.fatal(
        refused?.code === 'kafka.authorization' || refused?.code === 'kafka.authentication'
          ? refused
          : new MembraneError(
              'kafka.consumer-crashed',
              `The group consumer stopped and cannot recover: ${messageOf(error)}`,
              {
                cause: error,
                hint: 'check the broker and membrane’s permissions, then restart it',
              },
            ),
      );
    });
    await consumer.connect();
    await consumer.subscribe({
      topics: pipelines.flatMap((p) => [...p.topics]),
      fromBeginning: true,
    });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Every task this member owns at once (up to the limit): while one waits for its
      // transaction, the others use the CPU.
      partitionsConsumedConcurrently: config.MEMBRANE_TASK_CONCURRENCY,
      eachBatch: (payload) => {
        alive();
        return loop.handle(payload.batch, batchControl(payload, consumer));
      },
    });
    logger.info(
      {
        mappings: pipelines.map((p: Pipeline) => p.ref),
        group: config.MEMBRANE_GROUP_ID,
        guarantee: config.MEMBRANE_PROCESSING_GUARANTEE,
        http: this.httpPort,
      },
      'membrane is running',
    );
  }

  private fatal(error: MembraneError): void {
    this.logger.error({ code: error.code }, error.message);
    this.resolveFailed(error);
  }

  /** Finishes the chunks in flight, leaves the group, closes producers; bounded in time. */
  /** Resolves `false` when the shutdown timed out (the group was not left cleanly). */
  async stop(): Promise<boolean> {
    if (this.stopping) return true;
    this.stopping = true;
    const work = (async () => {
      await this.consumer?.disconnect().catch((error: unknown) => {
        this.logger.warn({ error: messageOf(error) }, 'leaving the group failed');
      });
      await this.manager?.stop();
      await this.admin?.disconnect().catch(() => undefined);
    })();
    let timeout: NodeJS.Timeout | undefined;
    const limit = new Promise<'timeout'>((resolve) => {
      timeout = setTimeout(() => {
        resolve('timeout');
      }, this.config.MEMBRANE_SHUTDOWN_TIMEOUT_MS);
    });
    const result = await Promise.race([work.then(() => 'done' as const), limit]);
    clearTimeout(timeout);
    if (this.decodingBefore) limitDecoding(this.decodingBefore);
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

/** kafkajs's batch payload as the loop's BatchControl. */
function batchControl(payload: EachBatchPayload, consumer: Consumer) {
  const { batch } = payload;
  return {
    isRunning: () => payload.isRunning(),
    isStale: () => payload.isStale(),
    heartbeat: () => payload.heartbeat(),
    resolveOffset: (offset: string) => {
      try {
        payload.resolveOffset(offset);
      } catch {
        // kafkajs throws (a TypeError) when a rejoin mid-batch took the topic away from this
        // member: nothing to resolve then; the committed offsets are what count.
      }
    },
    pause: () => payload.pause(),
    seek: (offset: string) => {
      consumer.seek({ topic: batch.topic, partition: batch.partition, offset });
    },
  };
}
