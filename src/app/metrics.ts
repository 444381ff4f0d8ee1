import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ISSUE_CODES } from '../core/issues.js';
import type { DropCause } from '../core/verdict.js';

/** What {@link Metrics.track} needs of a mapping: a {@link Pipeline} has it. */
export interface TrackedMapping {
  readonly name: string;
  outputTopics(): readonly string[];
  drops(): readonly DropCause[];
}

/**
 * Retry codes every mapping starts with at zero: the transient failures membrane retries most
 * (a broker hiccup; the registry unreachable or refusing membrane's credentials). Others
 * appear with their first retry.
 */
export const RETRY_CODES_AT_START = [
  'kafka.transient',
  'registry.unavailable',
  'registry.rejected',
] as const;

/**
 * What `membrane run` exposes on /metrics (Prometheus, via prom-client): membrane's own
 * `membrane_*` metrics and prom-client's default process and Node.js metrics under their
 * standard names (`process_cpu_seconds_total`, `nodejs_eventloop_lag_seconds`, …), so stock
 * Node.js dashboards and alerts find them. Every label value comes from a closed list or the
 * configuration (mapping, route, topic, partition, code, kind), never from a record.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly recordsIn = new Counter({
    name: 'membrane_records_in_total',
    help: 'Upstream records processed and committed',
    labelNames: ['mapping'] as const,
    registers: [this.registry],
  });
  readonly recordsOut = new Counter({
    name: 'membrane_records_out_total',
    help: 'Translated records committed downstream',
    labelNames: ['mapping', 'topic'] as const,
    registers: [this.registry],
  });
  readonly quarantined = new Counter({
    name: 'membrane_records_quarantined_total',
    help: 'Upstream records committed to the quarantine topic, by the code of their first issue',
    labelNames: ['mapping', 'code'] as const,
    registers: [this.registry],
  });
  readonly dropped = new Counter({
    name: 'membrane_records_dropped_total',
    help: 'Upstream records dropped on purpose, by kind (duplicate, route, otherwise, or the stage that dropped it) and route',
    labelNames: ['mapping', 'route', 'kind'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'membrane_retries_total',
    help: 'Retries after a transient failure (a chunk, or adopting a task) and re-adoptions after a commit of unknown outcome, by error code',
    labelNames: ['mapping', 'code'] as const,
    registers: [this.registry],
  });
  readonly rebalances = new Counter({
    name: 'membrane_rebalances_total',
    help: 'Group rebalances this member took part in',
    registers: [this.registry],
  });
  readonly transactionSeconds = new Histogram({
    name: 'membrane_transaction_seconds',
    help: 'Time to send a chunk’s records and offsets and commit them',
    labelNames: ['mapping'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly batchSeconds = new Histogram({
    name: 'membrane_batch_seconds',
    help: 'Time to process a fetched batch, commits included',
    labelNames: ['mapping'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly lagRecords = new Gauge({
    name: 'membrane_lag_records',
    help: 'Records behind the end of the input partition, after the last committed chunk',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly lagSeconds = new Gauge({
    name: 'membrane_lag_seconds',
    help: 'Age of the last input record committed (now minus its timestamp)',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });
  readonly tasks = new Gauge({
    name: 'membrane_tasks',
    help: 'Tasks (mapping partitions) owned by this member',
    registers: [this.registry],
  });

  private readonly tracked = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * Starts every series these mappings can count at zero, so that `rate()`, `increase()` and
   * alerts see the first record, retry or drop (a series that appears at 1 hides its first
   * increment): records in; records out per output topic; quarantined per issue code (a
   * closed list, about 40 a mapping); dropped per drop the mapping configures (duplicates,
   * each dropping route, `otherwise: drop`); retries per {@link RETRY_CODES_AT_START}; and the
   * transaction and batch histograms. A mapping already tracked is skipped: cheap to call for
   * every task.
   */
  track(mappings: Iterable<TrackedMapping>): void {
    for (const m of mappings) {
      if (this.tracked.has(m.name)) continue;
      this.tracked.add(m.name);
      const mapping = m.name;
      this.recordsIn.inc({ mapping }, 0);
      for (const topic of m.outputTopics()) this.recordsOut.inc({ mapping, topic }, 0);
      for (const code of ISSUE_CODES) this.quarantined.inc({ mapping, code }, 0);
      for (const cause of m.drops()) this.countDrops(mapping, cause, 0);
      for (const code of RETRY_CODES_AT_START) this.retries.inc({ mapping, code }, 0);
      this.transactionSeconds.zero({ mapping });
      this.batchSeconds.zero({ mapping });
    }
  }

  /** Counts `n` records of `mapping` dropped for `cause`: by its kind and route, not its text. */
  countDrops(mapping: string, cause: DropCause, n: number): void {
    this.dropped.inc({ mapping, route: cause.route ?? '', kind: cause.kind }, n);
  }
}
