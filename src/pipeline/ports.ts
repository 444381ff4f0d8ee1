import type { Type } from 'avsc';
import { compare, increment, merge, type VectorClock } from '../core/vector-clock.js';

/**
 * What the pipeline needs from a schema registry. Implementations throw a retriable
 * MembraneError when the registry cannot be reached: that is never the record's fault.
 */
export interface SchemaRegistryPort {
  /** The writer schema registered under `id`, or undefined when the registry has none. */
  schemaById(id: number): Promise<Type | undefined>;
  /** Registers `schema` under `subject` (idempotent) and returns its id. */
  register(subject: string, schema: Type): Promise<number>;
}

/** A registry in memory: for `membrane test`, unit tests and benchmarks. */
export class InMemorySchemaRegistry implements SchemaRegistryPort {
  private readonly byId = new Map<number, Type>();
  private readonly ids = new Map<string, number>();

  schemaById(id: number): Promise<Type | undefined> {
    return Promise.resolve(this.byId.get(id));
  }

  register(subject: string, schema: Type): Promise<number> {
    const fingerprint = `${subject}\u0000${schema.fingerprint('sha256').toString('hex')}`;
    let id = this.ids.get(fingerprint);
    if (id === undefined) {
      id = this.byId.size + 1;
      this.byId.set(id, schema);
      this.ids.set(fingerprint, id);
    }
    return Promise.resolve(id);
  }
}

export interface ClockAdvance {
  readonly clock: VectorClock;
  /** The upstream clock was concurrent with the aggregate's: neither saw the other. */
  readonly concurrent: boolean;
}

/**
 * The per-aggregate vector clocks. The runtime backs this with a changelog topic; the
 * pipeline only asks it to advance a clock for an output it is about to emit.
 */
export interface ClockPort {
  advance(aggregate: string, system: string, upstream: VectorClock | undefined): ClockAdvance;
  /** The aggregate's clock now, without advancing it. */
  current(aggregate: string): VectorClock | undefined;
}

/** Clocks in a Map: for `membrane test`, unit tests and benchmarks. */
export class InMemoryClocks implements ClockPort {
  readonly clocks = new Map<string, VectorClock>();

  current(aggregate: string): VectorClock | undefined {
    return this.clocks.get(aggregate);
  }

  advance(aggregate: string, system: string, upstream: VectorClock | undefined): ClockAdvance {
    const current = this.clocks.get(aggregate) ?? {};
    const concurrent = upstream !== undefined && compare(upstream, current) === 'concurrent';
    const next = increment(upstream ? merge(current, upstream) : current, system);
    this.clocks.set(aggregate, next);
    return { clock: next, concurrent };
  }
}

/** Remembers which deterministic IDs were emitted, to drop upstream redeliveries. */
export interface DedupPort {
  seen(id: string): boolean;
  remember(id: string): void;
}

/**
 * The last `window` emitted IDs of a task, with the same pending/commit/rollback layer as
 * the clocks. Oldest IDs leave first; which ones leave is decided before the transaction, so
 * the changelog can record their removal in it.
 */
export class TransactionalDedup implements DedupPort {
  private readonly committed = new Set<string>();
  private readonly pending = new Set<string>();
  private readonly window: number;

  constructor(window: number) {
    this.window = window;
  }

  seen(id: string): boolean {
    return this.pending.has(id) || this.committed.has(id);
  }

  remember(id: string): void {
    if (!this.committed.has(id)) this.pending.add(id);
  }

  /** IDs added since the last commit. */
  added(): ReadonlySet<string> {
    return this.pending;
  }

  /** The IDs the next commit will forget to keep within the window, oldest first. */
  evictions(): string[] {
    const excess = this.committed.size + this.pending.size - this.window;
    if (excess <= 0) return [];
    const out: string[] = [];
    for (const id of this.committed) {
      if (out.length >= excess) break;
      out.push(id);
    }
    return out;
  }

  commit(): void {
    for (const id of this.evictions()) this.committed.delete(id);
    for (const id of this.pending) this.committed.add(id);
    this.pending.clear();
  }

  rollback(): void {
    this.pending.clear();
  }

  restore(id: string, present: boolean): void {
    if (present) this.committed.add(id);
    else this.committed.delete(id);
  }

  get size(): number {
    return this.committed.size;
  }
}
