import { protocolError } from './errors.js';
import type { Scheduler } from './scheduler.js';

type HeaderValue = Buffer | string | (Buffer | string)[] | undefined;
export type SimHeaders = Record<string, HeaderValue>;

/** A transaction of one transactional ID and epoch. */
export interface Txn {
  readonly id: string;
  readonly epoch: number;
  status: 'open' | 'committed' | 'aborted';
  readonly partitions: Set<string>;
  /** group → topic/partition key → offset, made visible by the commit. */
  readonly offsets: Map<string, Map<string, number>>;
  readonly startedAt: number;
}

export interface LogEntry {
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: SimHeaders;
  readonly timestamp: string;
  readonly txn: Txn | undefined;
  /** A commit/abort marker (takes an offset, never seen by a consumer). */
  readonly control: 'commit' | 'abort' | undefined;
}

export interface Message {
  readonly key?: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: SimHeaders;
  readonly partition?: number;
}

const toBuffer = (v: Buffer | string | null | undefined): Buffer | null =>
  v === null || v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v);

export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

class PartitionLog {
  readonly entries: LogEntry[] = [];
  /** The first offset of each transaction still open on this partition. */
  readonly open = new Map<Txn, number>();

  get end(): number {
    return this.entries.length;
  }

  /** The last stable offset: the first offset of a still-open transaction, else the end. */
  get lso(): number {
    let lso = this.end;
    for (const first of this.open.values()) if (first < lso) lso = first;
    return lso;
  }
}

/** Group membership as the coordinator sees it. */
interface GroupMember {
  readonly id: string;
  readonly node: string;
  lastSeen: number;
  /** Joined the rebalance in progress; its JoinGroup is answered when the rebalance ends. */
  joined: boolean;
  waiter: ((answer: JoinAnswer) => void) | undefined;
}

export interface JoinAnswer {
  readonly memberId: string;
  readonly generation: number;
  readonly assignment: Record<string, number[]>;
  /** The SyncGroup was refused: the member is in the generation but never learned its part. */
  readonly error?: Error;
}

export interface BrokerOptions {
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly transactionTimeoutMs: number;
  /** The input topics the group's assignor spreads (task = partition p of all of them). */
  readonly inputTopics: readonly string[];
  readonly partitions: number;
  readonly assignor: 'round-robin' | 'range';
}

/** Something the model saw that must never happen; the property fails on any. */
export type Violation = string;

/**
 * An in-memory Kafka, faithful to the semantics membrane relies on (not to kafkajs):
 * partitioned logs; transactions whose records and control markers take offsets;
 * read_committed visibility (committed records only, nothing at or past the last stable
 * offset); a transaction coordinator with producer epochs (init bumps the epoch and aborts
 * what the ID left open; an older epoch is fenced; an open transaction times out); and one
 * consumer group with generations, session timeouts, rebalances and committed offsets.
 */
export class Broker {
  readonly options: BrokerOptions;
  private readonly sched: Scheduler;
  private readonly logs = new Map<string, PartitionLog[]>();
  private readonly txns = new Map<string, { epoch: number; open: Txn | undefined }>();
  /** Committed group offsets: topic/partition key → next offset to read. */
  readonly committed = new Map<string, number>();
  readonly violations: Violation[] = [];
  /** Fetches waiting for records (long poll): woken by appends and markers. */
  private readonly waiting = new Set<() => void>();
  // The group.
  private readonly members = new Map<string, GroupMember>();
  generation = 0;
  rebalancing = false;
  private rebalanceTimer: { cancel(): void } | undefined;
  private expiryTimer: { cancel(): void; at: number } | undefined;
  private memberSeq = 0;
  private readonly assignments = new Map<string, Record<string, number[]>>();
  /** Nodes whose next SyncGroup answer is REBALANCE_IN_PROGRESS (they keep their member ID). */
  readonly refuseSync = new Set<string>();
  /** Per task partition, which member owns it in the current generation. */
  readonly owners = new Map<number, string>();
  stats = { fencedRequests: 0, commits: 0, aborts: 0, rebalances: 0, expired: 0, timedOut: 0 };

  constructor(sched: Scheduler, options: BrokerOptions) {
    this.sched = sched;
    this.options = options;
  }

  partitionsOf(topic: string): PartitionLog[] {
    let logs = this.logs.get(topic);
    if (!logs) {
      const n =
        this.options.inputTopics.includes(topic) || topic.endsWith('.clocks')
          ? this.options.partitions
          : 1;
      logs = Array.from({ length: n }, () => new PartitionLog());
      this.logs.set(topic, logs);
    }
    return logs;
  }

  private log(topic: string, partition: number): PartitionLog {
    const log = this.partitionsOf(topic)[partition];
    if (!log) throw new Error(`sim: no partition ${topic}/${partition}`);
    return log;
  }

  private append(topic: string, partition: number, m: Message, txn: Txn | undefined): void {
    const log = this.log(topic, partition);
    if (txn && !log.open.has(txn)) log.open.set(txn, log.end);
    log.entries.push({
      offset: log.end,
      key: toBuffer(m.key),
      value: toBuffer(m.value),
      headers: m.headers ?? {},
      timestamp: String(this.sched.now),
      txn,
      control: undefined,
    });
  }

  private wake(): void {
    const waiting = [...this.waiting];
    this.waiting.clear();
    for (const wake of waiting) wake();
  }

  /** Registers a long-polling fetch; returns how to unregister it. */
  onData(wake: () => void): () => void {
    this.waiting.add(wake);
    return () => this.waiting.delete(wake);
  }

  /** A plain (non-transactional) produce, acks=all: visible at once. */
  produce(topic: string, messages: readonly Message[]): void {
    for (const m of messages) this.append(topic, m.partition ?? 0, m, undefined);
    this.wake();
  }

  highWatermark(topic: string, partition: number): number {
    return this.log(topic, partition).end;
  }

  lastStable(topic: string, partition: number): number {
    return this.log(topic, partition).lso;
  }

  /**
   * A read_committed fetch from `from`: up to `max` records below the last stable offset
   * (and below `upTo`), committed ones only. `next` is where the reader stands after them
   * (past skipped markers and aborted records when the fetch returned none).
   */
  readCommitted(
    topic: string,
    partition: number,
    from: number,
    max: number,
    upTo = Infinity,
  ): { records: LogEntry[]; next: number } {
    const log = this.log(topic, partition);
    const limit = Math.min(log.lso, upTo);
    const records: LogEntry[] = [];
    let at = from;
    while (at < limit && records.length < max) {
      const e = log.entries[at] as LogEntry;
      at += 1;
      if (e.control !== undefined) continue;
      if (e.txn && e.txn.status !== 'committed') continue;
      records.push(e);
    }
    return { records, next: at };
  }

  /** Everything a read_committed reader sees of a topic, partition by partition. */
  readAll(topic: string): { partition: number; entry: LogEntry }[] {
    const out: { partition: number; entry: LogEntry }[] = [];
    this.partitionsOf(topic).forEach((_log, partition) => {
      for (const entry of this.readCommitted(topic, partition, 0, Infinity).records)
        out.push({ partition, entry });
    });
    return out;
  }

  // ---- the transaction coordinator --------------------------------------------------------

  private txnState(id: string): { epoch: number; open: Txn | undefined } {
    let state = this.txns.get(id);
    if (!state) this.txns.set(id, (state = { epoch: -1, open: undefined }));
    return state;
  }

  epochOf(id: string): number {
    return this.txnState(id).epoch;
  }

  private end(txn: Txn, commit: boolean): void {
    txn.status = commit ? 'committed' : 'aborted';
    for (const key of txn.partitions) {
      const [topic = '', partition = '0'] = key.split('\u0000');
      const log = this.log(topic, Number(partition));
      log.open.delete(txn);
      log.entries.push({
        offset: log.end,
        key: null,
        value: null,
        headers: {},
        timestamp: String(this.sched.now),
        txn,
        control: commit ? 'commit' : 'abort',
      });
    }
    if (commit) {
      for (const [, offsets] of txn.offsets)
        for (const [tp, offset] of offsets) this.committed.set(tp, offset);
      this.stats.commits += 1;
    } else {
      this.stats.aborts += 1;
    }
    this.wake();
  }

  /** InitProducerId: bumps the epoch (fencing earlier ones) and aborts what was left open. */
  initProducer(id: string): number {
    const state = this.txnState(id);
    if (state.open) {
      this.end(state.open, false);
      state.open = undefined;
    }
    state.epoch += 1;
    return state.epoch;
  }

  private current(id: string, epoch: number, type: 'INVALID_PRODUCER_EPOCH' | 'PRODUCER_FENCED') {
    const state = this.txnState(id);
    if (epoch !== state.epoch) {
      this.stats.fencedRequests += 1;
      throw protocolError(type, `producer ${id} epoch ${epoch} fenced by epoch ${state.epoch}`);
    }
    return state;
  }

  private openTxn(id: string, epoch: number): Txn {
    const state = this.current(id, epoch, 'INVALID_PRODUCER_EPOCH');
    if (state.open) return state.open;
    const txn: Txn = {
      id,
      epoch,
      status: 'open',
      partitions: new Set(),
      offsets: new Map(),
      startedAt: this.sched.now,
    };
    state.open = txn;
    // The coordinator aborts a transaction left open too long, bumping the epoch.
    this.sched.after(this.options.transactionTimeoutMs, undefined, () => {
      if (state.open !== txn) return;
      this.stats.timedOut += 1;
      this.end(txn, false);
      state.open = undefined;
      state.epoch += 1;
    });
    return txn;
  }

  /** AddPartitionsToTxn + Produce of a transactional producer. */
  produceTxn(id: string, epoch: number, topic: string, messages: readonly Message[]): void {
    const txn = this.openTxn(id, epoch);
    for (const m of messages) {
      const partition = m.partition ?? 0;
      txn.partitions.add(tpKey(topic, partition));
      this.append(topic, partition, m, txn);
    }
  }

  /** AddOffsetsToTxn + TxnOffsetCommit (kafkajs: no member or generation check, KIP-447 absent). */
  txnOffsets(
    id: string,
    epoch: number,
    group: string,
    topic: string,
    partition: number,
    offset: number,
  ): void {
    const txn = this.openTxn(id, epoch);
    let offsets = txn.offsets.get(group);
    if (!offsets) txn.offsets.set(group, (offsets = new Map<string, number>()));
    offsets.set(tpKey(topic, partition), offset);
  }

  /** EndTxn. Ending nothing is fine (kafkajs sends nothing then; neither do we fail). */
  endTxn(id: string, epoch: number, commit: boolean): void {
    const state = this.current(id, epoch, 'PRODUCER_FENCED');
    const txn = state.open;
    if (!txn) return;
    state.open = undefined;
    this.end(txn, commit);
  }

  // ---- the group coordinator --------------------------------------------------------------

  get memberIds(): string[] {
    return [...this.members.keys()];
  }

  memberNode(memberId: string): string | undefined {
    return this.members.get(memberId)?.node;
  }

  /**
   * JoinGroup (+ SyncGroup): answered through `answer` when the rebalance completes. An
   * unknown or absent member ID gets a new one.
   */
  join(node: string, memberId: string | undefined, answer: (a: JoinAnswer) => void): string {
    let member = memberId === undefined ? undefined : this.members.get(memberId);
    if (!member) {
      member = {
        id: `${node}-m${++this.memberSeq}`,
        node,
        lastSeen: this.sched.now,
        joined: false,
        waiter: undefined,
      };
      this.members.set(member.id, member);
      this.startRebalance();
    } else if (!this.rebalancing) {
      // A known member rejoining outside a rebalance (it missed one, or restarted): rebalance.
      this.startRebalance();
    }
    member.joined = true;
    member.lastSeen = this.sched.now;
    member.waiter = answer;
    this.maybeComplete();
    return member.id;
  }

  private startRebalance(): void {
    if (this.rebalancing) return;
    this.rebalancing = true;
    for (const m of this.members.values()) m.joined = false;
    this.rebalanceTimer = this.sched.after(this.options.rebalanceTimeoutMs, undefined, () => {
      this.rebalanceTimer = undefined;
      if (this.rebalancing) this.complete();
    });
  }

  private maybeComplete(): void {
    if (!this.rebalancing) return;
    for (const m of this.members.values()) if (!m.joined) return;
    this.complete();
  }

  private complete(): void {
    this.rebalanceTimer?.cancel();
    this.rebalanceTimer = undefined;
    for (const [id, m] of this.members) if (!m.joined) this.members.delete(id);
    this.rebalancing = false;
    this.generation += 1;
    this.stats.rebalances += 1;
    const ids = [...this.members.keys()].sort();
    this.assignments.clear();
    this.owners.clear();
    for (const id of ids) this.assignments.set(id, {});
    if (ids.length > 0) {
      for (let p = 0; p < this.options.partitions; p++) {
        const index =
          this.options.assignor === 'round-robin'
            ? p % ids.length
            : Math.floor((p * ids.length) / this.options.partitions);
        const owner = ids[index] as string;
        this.owners.set(p, owner);
        const assignment = this.assignments.get(owner) as Record<string, number[]>;
        for (const topic of this.options.inputTopics) (assignment[topic] ??= []).push(p);
      }
    }
    for (const m of this.members.values()) {
      m.joined = false;
      m.lastSeen = this.sched.now;
      const waiter = m.waiter;
      m.waiter = undefined;
      const refused = waiter !== undefined && this.refuseSync.delete(m.node);
      waiter?.({
        memberId: m.id,
        generation: this.generation,
        assignment: this.assignments.get(m.id) ?? {},
        ...(refused ? { error: protocolError('REBALANCE_IN_PROGRESS') } : {}),
      });
    }
    this.armExpiry();
  }

  /** Heartbeat: UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS or ILLEGAL_GENERATION, or fine. */
  heartbeat(memberId: string, generation: number): void {
    const member = this.members.get(memberId);
    if (!member) throw protocolError('UNKNOWN_MEMBER_ID');
    member.lastSeen = this.sched.now;
    if (this.rebalancing) throw protocolError('REBALANCE_IN_PROGRESS');
    if (generation !== this.generation) throw protocolError('ILLEGAL_GENERATION');
    this.armExpiry();
  }

  leave(memberId: string): void {
    if (!this.members.delete(memberId)) return;
    this.rebalanceAfterDeparture();
  }

  private rebalanceAfterDeparture(): void {
    if (this.members.size === 0) {
      this.rebalanceTimer?.cancel();
      this.rebalancing = false;
      this.generation += 1;
      this.owners.clear();
      return;
    }
    if (this.rebalancing) this.maybeComplete();
    else this.startRebalance();
  }

  /** Removes members silent for longer than the session timeout (checked lazily). */
  private armExpiry(): void {
    let first = Infinity;
    for (const m of this.members.values()) if (!m.waiter) first = Math.min(first, m.lastSeen);
    if (first === Infinity) return;
    const at = first + this.options.sessionTimeoutMs + 1;
    if (this.expiryTimer && this.expiryTimer.at <= at) return;
    this.expiryTimer?.cancel();
    const handle = this.sched.at(at, undefined, () => {
      if (this.expiryTimer === timer) this.expiryTimer = undefined;
      this.expire();
    });
    const timer = {
      cancel: () => {
        handle.cancel();
      },
      at,
    };
    this.expiryTimer = timer;
  }

  private expire(): void {
    const now = this.sched.now;
    let removed = false;
    for (const [id, m] of this.members) {
      if (m.waiter) continue;
      if (now - m.lastSeen > this.options.sessionTimeoutMs) {
        this.members.delete(id);
        this.stats.expired += 1;
        removed = true;
      }
    }
    if (removed) this.rebalanceAfterDeparture();
    this.armExpiry();
  }

  /** OffsetFetch: the group's committed offsets (pending transactional ones are not). */
  committedFor(topic: string, partition: number): number | undefined {
    return this.committed.get(tpKey(topic, partition));
  }
}
