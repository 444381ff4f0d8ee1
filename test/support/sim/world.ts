import { Metrics } from '../../../src/app/metrics.js';
import { changelogTopic } from '../../../src/app/runtime/state.js';
import type { Pipeline } from '../../../src/pipeline/pipeline.js';
import { Broker, tpKey, type LogEntry } from './broker.js';
import { SimNode, type NodeConfig } from './node.js';
import { Scheduler } from './scheduler.js';

export interface WorldOptions {
  readonly seed: number;
  readonly partitions: number;
  readonly guarantee: 'exactly_once' | 'at_least_once';
  readonly assignor: 'round-robin' | 'range';
  readonly maxRecords: number;
  readonly maxBatch: number;
  readonly dedupWindow?: number;
  /** The consumer's isStale() also true after any rebalance (the old, non-kafkajs model). */
  readonly staleAfterRebalance?: boolean;
}

export const INPUT = 'erp.orders';
export const OUTPUT = 'sales.placed';
export const QUARANTINE = 'membrane.quarantine';
export const GROUP = 'membrane-sim';
export const SESSION_TIMEOUT_MS = 10_000;

export type RecordKind = 'good' | 'not-json' | 'bad-total';

/** An upstream record the world produced, and what must become of it. */
export interface Produced {
  readonly partition: number;
  readonly offset: number;
  readonly kind: RecordKind;
  readonly eventId: string;
  readonly aggregate: string;
}

/** One metrics registry for every run: the runtime only writes to it. */
const sharedMetrics = new Metrics();

/**
 * A simulated deployment: one in-memory broker, membrane processes (nodes) joining, leaving,
 * crashing and freezing, upstream records arriving, faults armed — all in virtual time from
 * one seed. `settle` lets it finish; `check` says what broke.
 */
export class World {
  readonly sched: Scheduler;
  readonly broker: Broker;
  readonly nodes: SimNode[] = [];
  readonly produced: Produced[] = [];
  readonly violations: string[] = [];
  readonly log: string[] = [];
  readonly options: WorldOptions;
  private readonly pipeline: Pipeline;
  private readonly config: NodeConfig;
  private nodeSeq = 0;
  /** Whether the fakes' steps go to the log too (SIM_TRACE=1). */
  tracing = process.env.SIM_TRACE === '1';
  /** Processes that exited on a fatal error. */
  exits = 0;
  private eventSeq = 0;

  constructor(pipeline: Pipeline, options: WorldOptions) {
    this.options = options;
    this.pipeline = pipeline;
    this.sched = new Scheduler(options.seed);
    this.broker = new Broker(this.sched, {
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      rebalanceTimeoutMs: 30_000,
      transactionTimeoutMs: 60_000,
      inputTopics: [INPUT],
      partitions: options.partitions,
      assignor: options.assignor,
    });
    this.config = {
      groupId: GROUP,
      quarantineTopic: QUARANTINE,
      guarantee: options.guarantee,
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      commitIntervalMs: 100,
      maxRecords: options.maxRecords,
      retryMaxMs: 5_000,
      dedupWindow: options.dedupWindow ?? 1_000,
      maxBatch: options.maxBatch,
      ...(options.staleAfterRebalance ? { staleAfterRebalance: true } : {}),
    };
  }

  note(message: string): void {
    // The last 5,000 to 10,000 lines: enough to read a failure, bounded however long it runs.
    if (this.log.length >= 10_000) this.log.splice(0, 5_000, '… (earlier lines dropped)');
    this.log.push(`@${this.sched.now} ${message}`);
  }

  violation(message: string): void {
    this.violations.push(`@${this.sched.now} ${message}`);
  }

  /** A new membrane process joins the group. */
  addNode(): SimNode {
    const name = `n${++this.nodeSeq}`;
    const node = new SimNode(
      name,
      this.sched,
      this.broker,
      this.pipeline,
      this.config,
      (message) => {
        this.violation(message);
      },
      sharedMetrics,
      (message) => {
        this.note(message);
        this.exits += 1;
      },
      (message) => {
        if (this.tracing) this.note(message);
      },
    );
    this.nodes.push(node);
    this.note(`${name} starts`);
    node.start();
    return node;
  }

  get alive(): SimNode[] {
    return this.nodes.filter((n) => n.alive);
  }

  /** The `index`-th live node (modulo), if any. */
  pick(index: number): SimNode | undefined {
    const alive = this.alive;
    return alive.length === 0 ? undefined : alive[index % alive.length];
  }

  /** Upstream writes `count` records (the kinds given, good ones by default) across aggregates. */
  produce(kinds: readonly RecordKind[]): void {
    const byPartition = new Map<number, { key: string; value: string }[]>();
    for (const kind of kinds) {
      const i = ++this.eventSeq;
      const a = this.sched.int(0, 5);
      const aggregate = `o-${a}`;
      const partition = a % this.options.partitions;
      const eventId = `e-${i}`;
      const value =
        kind === 'not-json'
          ? `{"event_id": "${eventId}",`
          : JSON.stringify({
              event_id: eventId,
              order_id: aggregate,
              total: kind === 'bad-total' ? 'lots' : '19.90',
            });
      let list = byPartition.get(partition);
      if (!list) byPartition.set(partition, (list = []));
      list.push({ key: aggregate, value });
      const offset = this.broker.highWatermark(INPUT, partition) + list.length - 1;
      this.produced.push({ partition, offset, kind, eventId, aggregate });
    }
    for (const [partition, messages] of byPartition)
      this.broker.produce(
        INPUT,
        messages.map((m) => ({ ...m, partition })),
      );
  }

  /** Every input record committed by the group. */
  allCommitted(): boolean {
    for (let p = 0; p < this.options.partitions; p++) {
      const end = this.broker.highWatermark(INPUT, p);
      if (end > 0 && (this.broker.committedFor(INPUT, p) ?? 0) < end) return false;
    }
    return true;
  }

  /**
   * The end of the schedule: every node thawed, no more faults, at least one node running;
   * then run until every input record is committed, or report a liveness failure.
   */
  async settle(limitMs = 600_000): Promise<boolean> {
    this.note('settling');
    this.sched.thawAll();
    for (const node of this.nodes) node.faults.clear();
    this.broker.refuseSync.clear();
    if (this.alive.length === 0) this.addNode();
    const deadline = this.sched.now + limitMs;
    const done = await this.sched.runUntil(() => this.allCommitted(), deadline);
    if (!done) {
      const where = Array.from({ length: this.options.partitions }, (_, p) => {
        const owner = this.broker.owners.get(p);
        return `p${p}: committed ${this.broker.committedFor(INPUT, p) ?? '-'} of ${this.broker.highWatermark(INPUT, p)}, owner ${owner ?? '-'}`;
      }).join('; ');
      this.violation(
        `liveness: not every input committed after ${limitMs} ms of settling (${where}; members ${this.broker.memberIds.join(',') || 'none'}; rebalancing ${this.broker.rebalancing})`,
      );
    }
    return done;
  }

  /** Runs the schedule's events up to `until` (virtual ms). */
  async runTo(until: number): Promise<void> {
    let steps = 0;
    while (await this.sched.step(until)) {
      if (++steps > 200_000) {
        this.violation(`liveness: over 200,000 events before ${until} ms (a livelock)`);
        break;
      }
    }
    this.sched.now = Math.max(this.sched.now, until);
  }

  /** The invariants on what a read_committed reader sees; returns every failure. */
  check(): string[] {
    const failures = [...this.violations, ...this.broker.violations];
    const exactlyOnce = this.options.guarantee === 'exactly_once';
    const outputs = this.broker.readAll(OUTPUT).map(({ entry }) => entry);
    const quarantined = this.broker.readAll(QUARANTINE).map(({ entry }) => entry);
    const header = (e: LogEntry, name: string): string | undefined => {
      const v = e.headers[name];
      const one = Array.isArray(v) ? v[v.length - 1] : v;
      return one === undefined ? undefined : one.toString();
    };
    const source = (e: LogEntry): string =>
      `${header(e, 'membrane.source.partition') ?? '?'}/${header(e, 'membrane.source.offset') ?? '?'}`;
    const outBy = new Map<string, number>();
    for (const e of outputs) outBy.set(source(e), (outBy.get(source(e)) ?? 0) + 1);
    const quarantineBy = new Map<string, number>();
    for (const e of quarantined)
      quarantineBy.set(source(e), (quarantineBy.get(source(e)) ?? 0) + 1);
    // 1. Conservation: each input record in exactly one place (its designed fate).
    for (const r of this.produced) {
      const at = `${r.partition}/${r.offset}`;
      const outs = outBy.get(at) ?? 0;
      const qs = quarantineBy.get(at) ?? 0;
      const want = r.kind === 'good' ? [1, 0] : [0, 1];
      const ok = exactlyOnce
        ? outs === want[0] && qs === want[1]
        : outs + qs >= 1 && (want[0] === 1 ? outs >= 1 : qs >= 1);
      if (!ok)
        failures.push(
          `conservation: input ${at} (${r.kind}, ${r.eventId}) is in ${outs} output(s) and ${qs} quarantine record(s)`,
        );
    }
    const known = new Set(this.produced.map((r) => `${r.partition}/${r.offset}`));
    for (const at of [...outBy.keys(), ...quarantineBy.keys()])
      if (!known.has(at))
        failures.push(`conservation: a record from ${at}, which upstream never wrote`);
    if (!exactlyOnce) return [...failures, ...this.checkAtLeastOnceClocks(outputs, source, header)];
    // 2. No ID twice.
    const ids = new Map<string, number>();
    for (const e of outputs) {
      const id = header(e, 'membrane.id') ?? '';
      ids.set(id, (ids.get(id) ?? 0) + 1);
    }
    for (const [id, n] of ids)
      if (n > 1) failures.push(`duplicate: membrane.id ${id} ${n} times on the outputs`);
    // 3. Clocks per aggregate count up 1, 2, 3… in output order.
    const last = new Map<string, number>();
    for (const e of outputs) {
      const aggregate = header(e, 'membrane.aggregate') ?? '';
      const clock = JSON.parse(header(e, 'membrane.vclock') ?? '{}') as Record<string, number>;
      const n = clock.erp ?? 0;
      const before = last.get(aggregate) ?? 0;
      if (n !== before + 1)
        failures.push(
          `clock: ${aggregate} went from ${before} to ${n} at output ${e.offset} (source ${source(e)})${n <= before ? ' (went back or repeated)' : ' (skipped)'}`,
        );
      last.set(aggregate, n);
    }
    return failures;
  }

  /**
   * At least once, records may be translated more than once (a send whose answer was lost, a
   * zombie's chunk, a commit of the offsets refused), each time with the clock the state had
   * then, so an aggregate's clocks may repeat in output order. What must still hold: a record
   * translated once never gets a clock at or below one already on the outputs for its
   * aggregate — its state was the latest (a task kept with stale state, or state restored from
   * a changelog that went back, would show here).
   */
  private checkAtLeastOnceClocks(
    outputs: readonly LogEntry[],
    source: (e: LogEntry) => string,
    header: (e: LogEntry, name: string) => string | undefined,
  ): string[] {
    if (process.env.SIM_ALO_CLOCKS === '0') return [];
    const failures: string[] = [];
    const times = new Map<string, number>();
    for (const e of outputs) times.set(source(e), (times.get(source(e)) ?? 0) + 1);
    const highest = new Map<string, { clock: number; source: string }>();
    for (const e of outputs) {
      const aggregate = header(e, 'membrane.aggregate') ?? '';
      const clock = JSON.parse(header(e, 'membrane.vclock') ?? '{}') as Record<string, number>;
      const n = clock.erp ?? 0;
      const before = highest.get(aggregate);
      if (times.get(source(e)) === 1 && before !== undefined && n <= before.clock)
        failures.push(
          `clock (at least once): ${aggregate} got ${n} at output ${e.offset} (source ${source(e)}, translated once) after ${before.clock} (source ${before.source})`,
        );
      if (before === undefined || n > before.clock)
        highest.set(aggregate, { clock: n, source: source(e) });
    }
    return failures;
  }

  /** The changelog topic of the mapping (for model checks). */
  get changelog(): string {
    return changelogTopic(GROUP, 'orders');
  }

  /** A digest of what happened, for failure messages. */
  summary(): string {
    const s = this.broker.stats;
    return `t=${this.sched.now}ms steps=${this.sched.steps} inputs=${this.produced.length} commits=${s.commits} aborts=${s.aborts} fenced=${s.fencedRequests} rebalances=${s.rebalances} expired=${s.expired} txnTimeouts=${s.timedOut} committed=${Array.from({ length: this.options.partitions }, (_, p) => this.broker.committedFor(INPUT, p) ?? '-').join('/')}`;
  }
}

export { tpKey };
