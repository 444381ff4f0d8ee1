import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What `membrane run` exposes on /metrics (Prometheus, via prom-client). */
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
    help: 'Upstream records dropped on purpose, by reason',
    labelNames: ['mapping', 'reason'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'membrane_retries_total',
    help: 'Chunks retried after a transient failure (registry, broker, transaction)',
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'membrane_process_' });
  }
}
