import type { Logger } from 'pino';
import { MembraneError } from '../../../src/core/errors.js';
import { Metrics } from '../../../src/app/metrics.js';
import { BatchLoop } from '../../../src/app/runtime/loop.js';
import type { TaskPorts } from '../../../src/app/runtime/ports.js';
import { TaskManager } from '../../../src/app/runtime/task-manager.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import type { Broker } from './broker.js';
import { SimConsumer } from './consumer.js';
import {
  count,
  NodeFaults,
  SimAtLeastOnceProducer,
  SimTransactionalProducer,
  simChangelog,
  simOffsets,
  type NodeEnv,
} from './ports.js';
import { seededRandom, type Scheduler } from './scheduler.js';

export interface NodeConfig {
  readonly groupId: string;
  readonly quarantineTopic: string;
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly sessionTimeoutMs: number;
  readonly commitIntervalMs: number;
  readonly maxRecords: number;
  readonly retryMaxMs: number;
  readonly dedupWindow: number;
  readonly maxBatch: number;
  /** The consumer's isStale() also true after a rebalance (the simulation's old model). */
  readonly staleAfterRebalance?: boolean;
}

/** A logger that logs nothing, cheaply (pino's interface as the runtime uses it). */
export const silentLogger: Logger = (() => {
  const noop = (): void => undefined;
  const logger = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop };
  return Object.assign(logger, { child: () => logger }) as unknown as Logger;
})();

/**
 * One simulated membrane process, wired as `Runtime.start` wires the real one (bootstrap.ts)
 * with the fakes in place of kafkajs: a group consumer whose GROUP_JOIN goes to the task
 * manager and whose batches go to the batch loop, task ports over the in-memory broker, the
 * scheduler's clock, a seeded random.
 */
export class SimNode implements NodeEnv {
  readonly name: string;
  readonly sched: Scheduler;
  readonly broker: Broker;
  readonly groupId: string;
  readonly faults = new NodeFaults();
  readonly consumer: SimConsumer;
  readonly manager: TaskManager;
  readonly pipeline: Pipeline;
  stopping = false;
  state: 'running' | 'stopping' | 'stopped' | 'crashed' = 'running';
  private readonly report: (message: string) => void;

  constructor(
    name: string,
    sched: Scheduler,
    broker: Broker,
    pipeline: Pipeline,
    config: NodeConfig,
    report: (message: string) => void,
    metrics: Metrics,
    onExit: (message: string) => void,
    private readonly onTrace: (message: string) => void = () => undefined,
  ) {
    this.name = name;
    this.sched = sched;
    this.broker = broker;
    this.groupId = config.groupId;
    this.report = report;
    this.pipeline = this.faulty(pipeline);
    const clock = sched.clock(name);
    const ports: TaskPorts = {
      createProducer: ({ guarantee, transactionalId }) =>
        guarantee === 'at_least_once'
          ? new SimAtLeastOnceProducer(this, transactionalId)
          : new SimTransactionalProducer(this, transactionalId),
      offsets: simOffsets(this),
      // No topic is ever deleted in the simulation.
      topics: { missing: () => Promise.resolve([]) },
      changelog: simChangelog(this),
      clock,
    };
    const manager = new TaskManager({
      pipelines: [this.pipeline],
      context: {
        groupId: config.groupId,
        quarantineTopic: config.quarantineTopic,
        guarantee: config.guarantee,
        metrics,
        logger: silentLogger,
        now: () => new Date(sched.now),
        dedupWindow: config.dedupWindow,
      },
      ports,
      // As bootstrap.ts wires kafkajs: pause and resume throw while the consumer restarts
      // after a crash (no consumer group); a restarted consumer starts with nothing paused.
      consumer: {
        pause: (topic, partitions) => {
          try {
            this.consumer.pause(topic, partitions);
          } catch (error) {
            count('pause refused (no consumer group)');
            this.trace(`${name} pausing failed: ${String(error)}`);
          }
        },
        resume: (topic, partitions) => {
          try {
            this.consumer.resume(topic, partitions);
          } catch (error) {
            count('resume refused (no consumer group)');
            this.trace(`${name} resuming failed: ${String(error)}`);
          }
        },
      },
      retryMaxMs: config.retryMaxMs,
      readoptAfterMs: 2 * config.sessionTimeoutMs,
      onFatal: (error) => {
        // membrane exits on a fatal error (an orchestrator restarts it: the world starts a
        // new node when none is left). A fatal error that is a bug is a finding.
        if (error.code === 'runtime.bug' || error.code === 'kafka.bug')
          this.violation(`${name}: ${error.message}`);
        onExit(`${name} exits: fatal ${error.code}: ${error.message}`);
        this.crash();
      },
      random: seededRandom(Math.floor(sched.random() * 2 ** 32)),
    });
    this.manager = manager;
    const loop = new BatchLoop({
      manager,
      metrics,
      logger: silentLogger,
      clock,
      maxRecords: config.maxRecords,
      commitIntervalMs: config.commitIntervalMs,
      isStopping: () => this.stopping,
    });
    this.consumer = new SimConsumer(
      name,
      sched,
      broker,
      {
        heartbeatIntervalMs: Math.min(1_000, config.sessionTimeoutMs / 3),
        // Records wake a waiting fetch; when idle, it waits until the next heartbeat is due.
        maxWaitMs: 1_000,
        maxBatch: config.maxBatch,
        ...(config.staleAfterRebalance ? { staleAfterRebalance: true } : {}),
      },
      {
        onJoin: (memberId, assignment) => {
          this.trace(`${name} joined as ${memberId}: ${JSON.stringify(assignment)}`);
          void manager.assign(memberId, assignment);
        },
        eachBatch: (batch, control) => loop.handle(batch, control),
        onCrash: (error) => {
          this.violation(
            `${name}: eachBatch threw something other than a rebalance: ${String(error)}`,
          );
        },
        onRestart: (phase) => {
          this.trace(
            phase === 'crashed'
              ? `${name} consumer crashed (restart: true): no consumer group until it restarts`
              : `${name} consumer restarted`,
          );
        },
      },
    );
  }

  /** The node's pipeline: the real one, behind the faults armed for this node. */
  private faulty(pipeline: Pipeline): Pipeline {
    const faults = this.faults;
    const sched = this.sched;
    const name = this.name;
    const wrapped = Object.create(pipeline) as Pipeline;
    wrapped.process = async (source, clocks, dedup) => {
      // A record takes a little time: other work interleaves mid-chunk.
      if (sched.random() < 0.3) await sched.op(name, () => undefined, sched.int(0, 3));
      if (sched.now < faults.outageUntil) {
        count('registry outage');
        throw new MembraneError(
          'registry.unreachable',
          'the schema registry cannot be reached (simulated)',
          {
            retriable: true,
          },
        );
      }
      if (faults.midChunkAfter !== undefined) {
        if (faults.midChunkAfter <= 0) {
          faults.midChunkAfter = undefined;
          count('mid-chunk failure');
          throw new MembraneError(
            'registry.refused',
            'the schema registry refused us (simulated)',
            {
              retriable: false,
            },
          );
        }
        faults.midChunkAfter -= 1;
      }
      return pipeline.process(source, clocks, dedup);
    };
    return wrapped;
  }

  start(): void {
    this.consumer.start();
  }

  trace(message: string): void {
    this.onTrace(message);
  }

  assignedPartitions(): ReadonlySet<number> {
    return this.consumer.assignedPartitions();
  }

  violation(message: string): void {
    this.report(message);
  }

  /** SIGTERM: `Runtime.stop` — leave the group after the batches in flight, close the tasks. */
  async stop(): Promise<void> {
    if (this.state !== 'running') return;
    this.state = 'stopping';
    this.stopping = true;
    await this.consumer.disconnect();
    await this.manager.stop();
    // A crash (or fatal exit) meanwhile has the last word.
    if ((this.state as string) === 'stopping') this.state = 'stopped';
  }

  /** SIGKILL: nothing of the process runs again; what it left open stays open. */
  crash(): void {
    this.state = 'crashed';
    this.sched.kill(this.name);
  }

  get alive(): boolean {
    return this.state === 'running';
  }
}
