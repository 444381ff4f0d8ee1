import {
  AssignerProtocol,
  type Assigner,
  type Cluster,
  type GroupMember,
  type PartitionAssigner,
} from 'kafkajs';

/**
 * membrane's partition assignor: sticky, subscription-aware task assignment.
 *
 * A task is partition p of every input topic of one mapping. All of a task's topic-partitions
 * go to one member (Kafka Streams' rule for co-partitioned inputs), so one member sees every
 * record of an aggregate and owns its state.
 *
 * Every member says, in the `userData` of its join metadata, which mappings it runs (with their
 * input topics) and which tasks it owns now. The leader plans from that alone — not from its own
 * configuration — so a group whose members run different mapping sets (a rolling deploy) still
 * gives each task to a member that runs it:
 *
 * 1. The tasks are those of the mappings the members declare. A mapping declared with different
 *    inputs by different members keeps the definition most members declare (ties: the smallest
 *    sorted topic list); a mapping whose input is also the input of a mapping more members run
 *    is skipped, as is one whose topics have no partition metadata. Skipped mappings are
 *    reported, never half-assigned.
 * 2. A task may go only to a member that runs its mapping with the same inputs and subscribes
 *    to them.
 * 3. Sticky: a task stays with the member that owns it, if that member is still in the group
 *    and eligible. Two claimants (a zombie came back): the one claiming fewer tasks keeps it,
 *    then the smaller member ID.
 * 4. Unowned tasks go, most constrained first, to the least-loaded eligible member.
 * 5. Balance: while a member holds at least two tasks more than a member it can hand work to —
 *    directly, or along a chain of members each passing one task on — one task moves along
 *    the cheapest such chain. At the end the loads are as even as eligibility allows (no chain
 *    of moves makes them more even; with the same mappings everywhere they differ by at most
 *    one).
 * 6. Fewest moves: then every ring of moves that keeps the loads as even but gives more tasks
 *    back to their previous owners than it takes from them is applied. When none is left, no
 *    equally balanced plan moves fewer tasks: going from 2 to 3 members with 12 tasks moves
 *    exactly 4; when a member leaves, only its tasks move.
 *
 * Everything is computed on member IDs in sorted order, so the plan does not depend on the
 * order the coordinator lists the members in.
 */
export interface TaskId {
  readonly mapping: string;
  readonly partition: number;
}

export function taskKey(task: TaskId): string {
  return `${task.mapping}/${task.partition}`;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The tasks of a set of mappings, given each topic's partition count. */
export function planTasks(
  topicsByMapping: ReadonlyMap<string, readonly string[]>,
  partitionsOf: (topic: string) => number,
): { task: TaskId; topics: readonly string[] }[] {
  const tasks: { task: TaskId; topics: readonly string[] }[] = [];
  for (const [mapping, topics] of [...topicsByMapping].sort(([a], [b]) => compare(a, b))) {
    const count = Math.max(0, ...topics.map(partitionsOf));
    for (let partition = 0; partition < count; partition++)
      tasks.push({ task: { mapping, partition }, topics });
  }
  // Interleave mappings: partition 0 of each, then partition 1 of each… spreads load evenly.
  return tasks.sort(
    (a, b) => a.task.partition - b.task.partition || compare(a.task.mapping, b.task.mapping),
  );
}

export const TASK_ASSIGNER_NAME = 'MembraneTaskAssigner';

// ---------------------------------------------------------------------------------------------
// userData: what a member tells the leader
// ---------------------------------------------------------------------------------------------

/**
 * Version of the userData layout. Version 1 is JSON:
 * `{"v":1,"mappings":{"<mapping>":["<topic>",…]},"owned":{"<mapping>":[<partition>,…]}}`.
 * A later version may add fields but keeps these two, so a leader reads any version ≥ 1.
 * Members since the mapping-version check add
 * `"versions":{"<mapping>":{"version":<n>,"digest":"<hex>"}}`: what `membrane status` shows and
 * what `quarantine replay` compares its own mappings with. Older members leave it out.
 */
export const MEMBER_DATA_VERSION = 1;

/** Which version of a mapping a member runs: its `version:` and a digest of its text. */
export interface MappingVersion {
  readonly version: number;
  readonly digest: string;
}

export interface MemberData {
  /** The mappings the member runs, with their input topics. */
  readonly mappings: ReadonlyMap<string, readonly string[]>;
  /** The tasks the member owns now. */
  readonly owned: readonly TaskId[];
  /** The version of each mapping it runs (absent for members that do not say). */
  readonly versions?: ReadonlyMap<string, MappingVersion>;
}

export function encodeMemberData(data: MemberData): Buffer {
  const mappings: Record<string, string[]> = {};
  for (const [mapping, topics] of [...data.mappings].sort(([a], [b]) => compare(a, b)))
    mappings[mapping] = [...topics];
  const owned: Record<string, number[]> = {};
  for (const { mapping, partition } of data.owned) (owned[mapping] ??= []).push(partition);
  for (const partitions of Object.values(owned)) partitions.sort((a, b) => a - b);
  const versions: Record<string, MappingVersion> = {};
  for (const [mapping, { version, digest }] of [...(data.versions ?? [])].sort(([a], [b]) =>
    compare(a, b),
  ))
    versions[mapping] = { version, digest };
  return Buffer.from(
    JSON.stringify({
      v: MEMBER_DATA_VERSION,
      mappings,
      owned,
      ...(data.versions ? { versions } : {}),
    }),
  );
}

const NOTHING: MemberData = { mappings: new Map(), owned: [] };

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads a member's userData. Empty or unreadable data (a member of an older version, or
 * garbage) means: runs no mapping the leader knows of, owns nothing. Malformed entries are
 * dropped one by one.
 */
export function decodeMemberData(userData: Buffer | null | undefined): MemberData {
  if (!userData || userData.length === 0) return NOTHING;
  let parsed: unknown;
  try {
    parsed = JSON.parse(userData.toString('utf8'));
  } catch {
    return NOTHING;
  }
  if (!isRecord(parsed) || typeof parsed.v !== 'number' || !(parsed.v >= 1)) return NOTHING;
  const mappings = new Map<string, readonly string[]>();
  if (isRecord(parsed.mappings))
    for (const [mapping, topics] of Object.entries(parsed.mappings))
      if (
        Array.isArray(topics) &&
        topics.length > 0 &&
        topics.every((t): t is string => typeof t === 'string' && t.length > 0)
      )
        mappings.set(mapping, topics);
  const owned: TaskId[] = [];
  if (isRecord(parsed.owned))
    for (const [mapping, partitions] of Object.entries(parsed.owned))
      if (Array.isArray(partitions))
        for (const partition of partitions)
          if (Number.isSafeInteger(partition) && (partition as number) >= 0)
            owned.push({ mapping, partition: partition as number });
  if (!isRecord(parsed.versions)) return { mappings, owned };
  const versions = new Map<string, MappingVersion>();
  for (const [mapping, entry] of Object.entries(parsed.versions))
    if (
      isRecord(entry) &&
      Number.isSafeInteger(entry.version) &&
      typeof entry.digest === 'string' &&
      /^[0-9a-f]{1,64}$/.test(entry.digest)
    )
      versions.set(mapping, { version: entry.version as number, digest: entry.digest });
  return { mappings, owned, versions };
}

// ---------------------------------------------------------------------------------------------
// The plan (pure)
// ---------------------------------------------------------------------------------------------

export interface MemberState extends MemberData {
  readonly memberId: string;
  /** The topics the member subscribes to (its protocol metadata). */
  readonly topics: readonly string[];
}

/** A mapping declaration the plan could not honour, and the members that made it. */
export interface SkippedMapping {
  readonly mapping: string;
  readonly topics: readonly string[];
  readonly memberIds: readonly string[];
  readonly reason: string;
}

export interface TaskPlan {
  /** Every member (sorted by ID), with its tasks sorted by mapping, then partition. */
  readonly tasksByMember: ReadonlyMap<string, readonly TaskId[]>;
  /** Every member, with the topic-partitions of its tasks (partitions ascending). */
  readonly assignment: ReadonlyMap<string, Record<string, number[]>>;
  /** Tasks that leave their previous owner, though it is still in the group and runs them. */
  readonly moved: readonly { readonly task: TaskId; readonly from: string; readonly to: string }[];
  /** Tasks (where their partition count is known) that no member can take, and why. */
  readonly unassigned: readonly { readonly task: TaskId; readonly reason: string }[];
  readonly skipped: readonly SkippedMapping[];
}

interface Definition {
  readonly mapping: string;
  readonly topics: readonly string[];
  /** Indexes (in member ID order) of the members that run the mapping with these inputs. */
  readonly voters: number[];
}

interface Accepted {
  readonly definition: Definition;
  /** Partition count of each topic, in `definition.topics` order. */
  readonly counts: readonly number[];
  /** Number of tasks: the largest partition count. */
  readonly count: number;
}

class Skips {
  private readonly byKey = new Map<
    string,
    { mapping: string; topics: readonly string[]; reason: string; voters: number[] }
  >();

  add(mapping: string, topics: readonly string[], voters: readonly number[], reason: string) {
    const key = JSON.stringify([mapping, topics, reason]);
    const entry = this.byKey.get(key) ?? { mapping, topics, reason, voters: [] };
    entry.voters.push(...voters);
    this.byKey.set(key, entry);
  }

  list(ids: readonly string[]): SkippedMapping[] {
    return [...this.byKey.values()]
      .map(({ mapping, topics, reason, voters }) => ({
        mapping,
        topics,
        memberIds: [...new Set(voters)].sort((x, y) => x - y).map((u) => ids[u] ?? ''),
        reason,
      }))
      .sort((a, b) => compare(a.mapping, b.mapping) || compare(a.reason, b.reason));
  }
}

const byVotes = (a: Definition, b: Definition) =>
  b.voters.length - a.voters.length ||
  compare(a.mapping, b.mapping) ||
  compare(a.topics.join('\n'), b.topics.join('\n'));

/**
 * The mappings the plan places (sorted by name): one definition per mapping (the one most
 * members run), with partition metadata, no input shared with a mapping more members run.
 */
function acceptMappings(
  members: readonly MemberState[],
  partitionsOf: (topic: string) => number,
  skips: Skips,
  unassigned: { task: TaskId; reason: string }[],
): Accepted[] {
  const definitions = new Map<string, Map<string, Definition>>();
  members.forEach((member, u) => {
    const subscribed = new Set(member.topics);
    for (const [mapping, declared] of member.mappings) {
      const topics = [...new Set(declared)].sort(compare);
      if (topics.length === 0) continue;
      const missing = topics.filter((t) => !subscribed.has(t));
      if (missing.length > 0) {
        skips.add(mapping, topics, [u], `the member does not subscribe to ${missing.join(', ')}`);
        continue;
      }
      const byTopics = definitions.get(mapping) ?? new Map<string, Definition>();
      definitions.set(mapping, byTopics);
      const key = topics.join('\n');
      const definition = byTopics.get(key) ?? { mapping, topics, voters: [] };
      byTopics.set(key, definition);
      definition.voters.push(u);
    }
  });

  const candidates: Accepted[] = [];
  for (const mapping of [...definitions.keys()].sort(compare)) {
    const [chosen, ...others] = [...(definitions.get(mapping)?.values() ?? [])].sort(byVotes);
    if (!chosen) continue;
    for (const other of others)
      skips.add(
        mapping,
        other.topics,
        other.voters,
        `${chosen.voters.length} member(s) run it with inputs ${chosen.topics.join(', ')}`,
      );
    const counts = chosen.topics.map((t) => Math.max(0, Math.trunc(partitionsOf(t))));
    const noMetadata = chosen.topics.filter((_, i) => counts[i] === 0);
    if (noMetadata.length > 0) {
      const reason = `no partition metadata for ${noMetadata.join(', ')}`;
      skips.add(mapping, chosen.topics, chosen.voters, reason);
      continue;
    }
    candidates.push({ definition: chosen, counts, count: Math.max(...counts) });
  }

  // A topic feeds one mapping: the one more members run (then the smaller name) wins.
  const topicOwner = new Map<string, string>();
  const accepted: Accepted[] = [];
  for (const candidate of candidates.sort((a, b) => byVotes(a.definition, b.definition))) {
    const { mapping, topics, voters } = candidate.definition;
    const taken = topics.find((t) => topicOwner.has(t));
    if (taken === undefined) {
      for (const t of topics) topicOwner.set(t, mapping);
      accepted.push(candidate);
      continue;
    }
    const reason = `input ${taken} is also an input of mapping ${topicOwner.get(taken) ?? ''}`;
    skips.add(mapping, topics, voters, reason);
    for (let partition = 0; partition < candidate.count; partition++)
      unassigned.push({ task: { mapping, partition }, reason });
  }
  return accepted.sort((a, b) => compare(a.definition.mapping, b.definition.mapping));
}

const INFINITY = 0x3fffffff;

/** The cycle the parent links from `start` run into (in path order), if they do. */
function cycleThrough(parent: Int32Array, start: number): number[] | undefined {
  const seen = new Set<number>();
  let v = start;
  while (v >= 0 && !seen.has(v)) {
    seen.add(v);
    v = parent[v] ?? -1;
  }
  if (v < 0) return undefined;
  const cycle = [v];
  for (let w = parent[v] ?? -1; w !== v && w >= 0; w = parent[w] ?? -1) cycle.push(w);
  return cycle.reverse();
}

/**
 * Tasks (numbered mapping by mapping, partition by partition) over members (numbered in ID
 * order). Typed arrays and plain loops: hundreds of tasks over dozens of members stay well
 * under a millisecond.
 */
class Balancer {
  /** Owner of each task, -1 for none. */
  readonly owner: Int32Array;
  /** Previous owner of each task (claims resolved), -1 for none. */
  readonly prev: Int32Array;
  private readonly load: Int32Array;
  /** Tasks of mapping m held by member u, at u * mappings + m. */
  private readonly count: Int32Array;
  private readonly held: number[][];
  /** Of those, the tasks u did not own before, at u * mappings + m. */
  private readonly foreign: Int32Array;
  private readonly eligibleAt: Uint8Array;
  /** Members that run at least one mapping. */
  private readonly active: number[];
  private readonly dist: Int32Array;
  private readonly parent: Int32Array;
  private readonly done: Uint8Array;
  private readonly mappings: number;
  /** Mappings grouped by who may run them: class of each mapping, members of each class. */
  private readonly classOf: Int32Array;
  private readonly classMembers: (readonly number[])[];
  private readonly classStep: Int8Array;

  constructor(
    members: number,
    private readonly eligible: readonly (readonly number[])[],
    private readonly taskMapping: readonly number[],
  ) {
    const M = (this.mappings = eligible.length);
    const N = taskMapping.length;
    this.owner = new Int32Array(N).fill(-1);
    this.prev = new Int32Array(N).fill(-1);
    this.load = new Int32Array(members);
    this.count = new Int32Array(members * M);
    this.held = Array.from({ length: members * M }, () => []);
    this.foreign = new Int32Array(members * M);
    this.eligibleAt = new Uint8Array(members * M);
    eligible.forEach((voters, m) => {
      for (const u of voters) this.eligibleAt[u * M + m] = 1;
    });
    this.active = [];
    for (let u = 0; u < members; u++)
      if (eligible.some((voters) => voters.includes(u))) this.active.push(u);
    this.classOf = new Int32Array(M);
    this.classMembers = [];
    const classes = new Map<string, number>();
    eligible.forEach((voters, m) => {
      const key = voters.join(',');
      let c = classes.get(key);
      if (c === undefined) {
        c = this.classMembers.push(voters) - 1;
        classes.set(key, c);
      }
      this.classOf[m] = c;
    });
    this.classStep = new Int8Array(this.classMembers.length);
    this.dist = new Int32Array(members);
    this.parent = new Int32Array(members);
    this.done = new Uint8Array(members);
  }

  private at(array: Int32Array | Int8Array | Uint8Array, i: number): number {
    return array[i] ?? 0;
  }

  private mappingOf(t: number): number {
    return this.taskMapping[t] ?? 0;
  }

  canRun(u: number, m: number): boolean {
    return this.eligibleAt[u * this.mappings + m] === 1;
  }

  /** Each task claimed by eligible members stays with one: fewest claims, then lowest index. */
  keepClaims(claims: readonly ReadonlySet<number>[]) {
    claims.forEach((claimed, u) => {
      for (const t of claimed) {
        const current = this.at(this.prev, t);
        const mine = claimed.size;
        const theirs = current < 0 ? 0 : (claims[current]?.size ?? 0);
        if (current < 0 || mine < theirs || (mine === theirs && u < current)) this.prev[t] = u;
      }
    });
    for (let t = 0; t < this.prev.length; t++) {
      const u = this.at(this.prev, t);
      if (u >= 0) this.give(t, u);
    }
  }

  /** Unowned tasks, most constrained first, to the least-loaded eligible member. */
  placeUnowned() {
    const M = this.mappings;
    const fresh: number[] = [];
    for (let t = 0; t < this.owner.length; t++) if (this.at(this.owner, t) < 0) fresh.push(t);
    const choices = (t: number) => this.eligible[this.mappingOf(t)]?.length ?? 0;
    fresh.sort((a, b) => choices(a) - choices(b) || a - b);
    for (const t of fresh) {
      const m = this.mappingOf(t);
      const voters = this.eligible[m] ?? [];
      let best = -1;
      for (const v of voters) {
        if (best < 0) best = v;
        else {
          const dl = this.at(this.load, v) - this.at(this.load, best);
          if (
            dl < 0 ||
            (dl === 0 && this.at(this.count, v * M + m) < this.at(this.count, best * M + m))
          )
            best = v;
        }
      }
      if (best >= 0) this.give(t, best);
    }
  }

  /** Moves tasks along the cheapest chains until no chain can even the loads further. */
  balance() {
    const donors = [...this.active];
    const futile = new Uint8Array(this.load.length);
    for (;;) {
      let lightest = INFINITY;
      for (const u of this.active) lightest = Math.min(lightest, this.at(this.load, u));
      donors.sort((a, b) => this.at(this.load, b) - this.at(this.load, a) || a - b);
      futile.fill(0);
      let improved = false;
      for (const u of donors) {
        if (this.at(this.load, u) - lightest < 2) break;
        if (futile[u] === 1) continue;
        const chain = this.chainFrom(u);
        if (!chain) {
          // Nothing u reaches is two lighter than u; the donors after u are no heavier and
          // reach no more than u, so those u reaches cannot give either.
          this.dist.forEach((d, v) => {
            if (d < INFINITY) futile[v] = 1;
          });
          continue;
        }
        for (let i = 0; i + 1 < chain.length; i++) this.moveOne(chain[i] ?? 0, chain[i + 1] ?? 0);
        improved = true;
        break;
      }
      if (!improved) return;
    }
  }

  /**
   * Undoes moves balance does not need. The loads are as even as they can be; what is left is
   * a cycle of single-task moves — round a ring of members, or from a member to one a task
   * lighter (the two swap loads) — that gives back more tasks to their previous owners than it
   * takes from them. Found as negative cycles (Bellman-Ford, queue-based) over members, with
   * one node per load level joining a member of load L to the members of load L + 1; a step
   * costs -1 if it returns a task to its previous owner, 1 if it takes one from its previous
   * owner, else 0. When none is left, no assignment as balanced moves fewer tasks.
   */
  cancelNeedlessMoves() {
    for (;;) {
      const cycle = this.negativeCycle();
      if (!cycle) return;
      const steps: [number, number][] = [];
      const K = this.load.length;
      cycle.forEach((a, i) => {
        const b = cycle[(i + 1) % cycle.length] ?? a;
        if (a < K && b < K) steps.push([this.cheapestTask(a, b), b]);
      });
      for (const [t, b] of steps) if (t >= 0) this.give(t, b);
    }
  }

  private cheapestTask(a: number, b: number): number {
    const M = this.mappings;
    let best = -1;
    let bestCost = 2;
    for (let m = 0; m < M; m++) {
      if (!this.canRun(b, m)) continue;
      for (const t of this.held[a * M + m] ?? []) {
        const cost = this.prev[t] === b ? -1 : this.prev[t] === a ? 1 : 0;
        if (cost < bestCost || (cost === bestCost && t > best)) {
          best = t;
          bestCost = cost;
        }
      }
    }
    return best;
  }

  /** A negative cycle (nodes in order; members < K, load levels from K), or undefined. */
  private negativeCycle(): number[] | undefined {
    const M = this.mappings;
    const K = this.load.length;
    // Only a task away from its previous owner makes a step of negative cost.
    let away = false;
    for (let t = 0; t < this.prev.length && !away; t++)
      away = this.at(this.prev, t) >= 0 && this.prev[t] !== this.owner[t];
    if (!away) return undefined;
    let heaviest = 0;
    for (const u of this.active) heaviest = Math.max(heaviest, this.at(this.load, u));
    const V = K + heaviest + 1;
    // Cheapest step from member a to member b at a * K + b; 2 for none.
    const step = new Int8Array(K * K).fill(2);
    for (let a = 0; a < K; a++) {
      this.stepsFrom(a);
      this.classMembers.forEach((members, c) => {
        const base = this.at(this.classStep, c);
        if (base > 1) return;
        for (const b of members)
          if (b !== a && base < this.at(step, a * K + b)) step[a * K + b] = base;
      });
      for (let m = 0; m < M; m++)
        for (const t of this.held[a * M + m] ?? []) {
          const b = this.at(this.prev, t);
          if (b >= 0 && b !== a && this.canRun(b, m)) step[a * K + b] = -1;
        }
    }
    const upper: number[][] = Array.from({ length: heaviest + 1 }, () => []);
    for (const u of this.active) {
      const level = this.at(this.load, u) - 1;
      if (level >= 0) upper[level]?.push(u);
    }
    // Adjacency: node a's targets and the cost of each step.
    const targets: number[][] = Array.from({ length: V }, () => []);
    const costs: number[][] = Array.from({ length: V }, () => []);
    for (let a = 0; a < K; a++)
      for (let b = 0; b < K; b++) {
        const cost = this.at(step, a * K + b);
        if (cost > 1) continue;
        targets[a]?.push(b);
        costs[a]?.push(cost);
      }
    for (const u of this.active) {
      targets[u]?.push(K + this.at(this.load, u));
      costs[u]?.push(0);
    }
    upper.forEach((members, level) => {
      targets[K + level]?.push(...members);
      costs[K + level]?.push(...members.map(() => 0));
    });

    const dist = new Int32Array(V);
    const length = new Int32Array(V);
    const parent = new Int32Array(V).fill(-1);
    const queued = new Uint8Array(V).fill(1);
    const queue: number[] = Array.from({ length: V }, (_, v) => v);
    for (let head = 0; head < queue.length; head++) {
      if (head > V * (V + 1)) {
        // Without a negative cycle no node is queued more than V times.
        for (let v = 0; v < V; v++) {
          const cycle = cycleThrough(parent, v);
          if (cycle) return cycle;
        }
        return undefined;
      }
      const a = queue[head] ?? 0;
      queued[a] = 0;
      const out = targets[a] ?? [];
      for (let i = 0; i < out.length; i++) {
        const b = out[i] ?? 0;
        const d = this.at(dist, a) + (costs[a]?.[i] ?? 0);
        if (d >= this.at(dist, b)) continue;
        dist[b] = d;
        parent[b] = a;
        length[b] = this.at(length, a) + 1;
        if (this.at(length, b) >= V) {
          // A path that long repeats a node; the parents then hold a cycle, negative since
          // every step lowered a distance. (If they do not yet, go on: they will.)
          const cycle = cycleThrough(parent, b);
          if (cycle) return cycle;
          length[b] = 0;
        }
        if (queued[b] === 0) {
          queued[b] = 1;
          queue.push(b);
        }
      }
    }
    return undefined;
  }

  /**
   * For each class of mappings, what passing one of a's tasks of that class on costs: 0 if a
   * holds one it did not own before, 1 if only ones it owned, 2 (no step) if none.
   */
  private stepsFrom(a: number) {
    const M = this.mappings;
    this.classStep.fill(2);
    for (let m = 0; m < M; m++) {
      if ((this.held[a * M + m]?.length ?? 0) === 0) continue;
      const c = this.at(this.classOf, m);
      const step = this.at(this.foreign, a * M + m) > 0 ? 0 : 1;
      if (step < this.at(this.classStep, c)) this.classStep[c] = step;
    }
  }

  private give(t: number, u: number) {
    const M = this.mappings;
    const m = this.mappingOf(t);
    const from = this.at(this.owner, t);
    const p = this.at(this.prev, t);
    if (from >= 0) {
      const list = this.held[from * M + m] ?? [];
      list.splice(list.indexOf(t), 1);
      this.load[from] = this.at(this.load, from) - 1;
      this.count[from * M + m] = this.at(this.count, from * M + m) - 1;
      if (p !== from) this.foreign[from * M + m] = this.at(this.foreign, from * M + m) - 1;
    }
    this.owner[t] = u;
    this.held[u * M + m]?.push(t);
    this.load[u] = this.at(this.load, u) + 1;
    this.count[u * M + m] = this.at(this.count, u * M + m) + 1;
    if (p !== u) this.foreign[u * M + m] = this.at(this.foreign, u * M + m) + 1;
  }

  /**
   * The cheapest chain of single-task moves from u to a member at least two tasks lighter
   * (Dijkstra over members; a step costs 1 if the giver only holds tasks it owned before).
   */
  private chainFrom(u: number): number[] | undefined {
    const { dist, parent, done, active } = this;
    dist.fill(INFINITY);
    parent.fill(-1);
    done.fill(0);
    dist[u] = 0;
    for (;;) {
      let a = -1;
      for (const v of active)
        if (
          done[v] === 0 &&
          this.at(dist, v) < INFINITY &&
          (a < 0 || this.at(dist, v) < this.at(dist, a))
        )
          a = v;
      if (a < 0) break;
      done[a] = 1;
      this.stepsFrom(a);
      this.classMembers.forEach((members, c) => {
        const step = this.at(this.classStep, c);
        if (step > 1) return;
        const d = this.at(dist, a) + step;
        for (const v of members)
          if (v !== a && d < this.at(dist, v)) {
            dist[v] = d;
            parent[v] = a;
          }
      });
    }
    const limit = this.at(this.load, u) - 2;
    let target = -1;
    for (const v of active) {
      const d = this.at(dist, v);
      if (d >= INFINITY || this.at(this.load, v) > limit) continue;
      if (
        target < 0 ||
        d < this.at(dist, target) ||
        (d === this.at(dist, target) && this.at(this.load, v) < this.at(this.load, target))
      )
        target = v;
    }
    if (target < 0) return undefined;
    const chain = [target];
    for (let v = target; v !== u;) {
      v = parent[v] ?? -1;
      if (v < 0) return undefined;
      chain.unshift(v);
    }
    return chain;
  }

  /**
   * Moves one task from a to b: back to its previous owner if possible, else one a did not own
   * before, else any; from the mapping a holds most more of than b.
   */
  private moveOne(a: number, b: number) {
    const M = this.mappings;
    let best = -1;
    let bestCost = 0;
    let bestSpread = 0;
    for (let m = 0; m < M; m++) {
      if (!this.canRun(b, m)) continue;
      const spread = this.at(this.count, a * M + m) - this.at(this.count, b * M + m);
      for (const t of this.held[a * M + m] ?? []) {
        const cost = this.prev[t] === b ? -1 : this.prev[t] === a ? 1 : 0;
        if (
          best < 0 ||
          cost < bestCost ||
          (cost === bestCost && (spread > bestSpread || (spread === bestSpread && t > best)))
        ) {
          best = t;
          bestCost = cost;
          bestSpread = spread;
        }
      }
    }
    if (best >= 0) this.give(best, b);
  }
}

/**
 * Plans which member runs which task. `partitionsOf` gives a topic's partition count (0 when
 * its metadata is missing). Pure and deterministic: the same members in any order give the
 * same plan.
 */
export function planAssignment(
  members: readonly MemberState[],
  partitionsOf: (topic: string) => number,
): TaskPlan {
  const sorted = [...members].sort((a, b) => compare(a.memberId, b.memberId));
  const ids = sorted.map((m) => m.memberId);
  const skips = new Skips();
  const unassigned: { task: TaskId; reason: string }[] = [];
  const accepted = acceptMappings(sorted, partitionsOf, skips, unassigned);

  const mappingIndex = new Map(accepted.map((c, m) => [c.definition.mapping, m]));
  const base: number[] = [];
  const taskMapping: number[] = [];
  const taskPartition: number[] = [];
  accepted.forEach((c, m) => {
    base.push(taskMapping.length);
    for (let p = 0; p < c.count; p++) {
      taskMapping.push(m);
      taskPartition.push(p);
    }
  });
  const balancer = new Balancer(
    sorted.length,
    accepted.map((c) => c.definition.voters),
    taskMapping,
  );
  balancer.keepClaims(
    sorted.map((member, u) => {
      const claims = new Set<number>();
      for (const { mapping, partition } of member.owned) {
        const m = mappingIndex.get(mapping);
        const valid = Number.isSafeInteger(partition) && partition >= 0;
        if (m === undefined || !valid || !balancer.canRun(u, m)) continue;
        if (partition >= (accepted[m]?.count ?? 0)) continue;
        claims.add((base[m] ?? 0) + partition);
      }
      return claims;
    }),
  );
  balancer.placeUnowned();
  balancer.balance();
  balancer.cancelNeedlessMoves();

  const tasksByMember = new Map<string, TaskId[]>(ids.map((id) => [id, []]));
  const assignment = new Map<string, Record<string, number[]>>(ids.map((id) => [id, {}]));
  const moved: { task: TaskId; from: string; to: string }[] = [];
  taskMapping.forEach((m, t) => {
    const u = balancer.owner[t] ?? -1;
    const c = accepted[m];
    if (u < 0 || !c) return;
    const id = ids[u] ?? '';
    const task = { mapping: c.definition.mapping, partition: taskPartition[t] ?? 0 };
    tasksByMember.get(id)?.push(task);
    const topics = assignment.get(id) ?? {};
    c.definition.topics.forEach((topic, i) => {
      if (task.partition < (c.counts[i] ?? 0)) (topics[topic] ??= []).push(task.partition);
    });
    const from = balancer.prev[t] ?? -1;
    if (from >= 0 && from !== u) moved.push({ task, from: ids[from] ?? '', to: id });
  });
  return { tasksByMember, assignment, moved, unassigned, skipped: skips.list(ids) };
}

// ---------------------------------------------------------------------------------------------
// The kafkajs assigner
// ---------------------------------------------------------------------------------------------

export interface TaskAssignerOptions {
  /**
   * The tasks this member owns at the moment it (re)joins the group; read on every join.
   * Without it the member claims nothing, so the leader cannot keep its tasks in place.
   */
  readonly ownedTasks?: () => Iterable<TaskId>;
  /** The version of each mapping this member runs, published in its join metadata. */
  readonly versions?: ReadonlyMap<string, MappingVersion>;
  /** Called on the leader with every plan it makes (report unassigned/skipped, count moves). */
  readonly onPlan?: (plan: TaskPlan) => void;
}

/** Decodes the members' join metadata; an unreadable one subscribes to nothing. */
export function memberStates(members: readonly GroupMember[]): MemberState[] {
  return members.map(({ memberId, memberMetadata }) => {
    try {
      const metadata = AssignerProtocol.MemberMetadata.decode(memberMetadata);
      return {
        memberId,
        topics: metadata?.topics ?? [],
        ...decodeMemberData(metadata?.userData),
      };
    } catch {
      return { memberId, topics: [], ...NOTHING };
    }
  });
}

function partitionCount(cluster: Cluster, topic: string): number {
  try {
    return cluster.findTopicPartitionMetadata(topic).length;
  } catch {
    return 0;
  }
}

/**
 * The group's partition assigner, for `kafka.consumer({ partitionAssigners: [...] })`.
 *
 * `taskAssigner(topicsByMapping, { ownedTasks, onPlan })`:
 * - `topicsByMapping`: the mappings this member runs → their input topics (what it declares);
 * - `ownedTasks()`: the tasks this member owns right now, called each time it joins (tasks it
 *   holds until the new assignment arrives — kafkajs revokes everything at a rebalance, but
 *   the runtime should keep the tasks' producers and state until it sees the new assignment,
 *   and tear down only the tasks that left);
 * - `onPlan(plan)`: on the leader, every plan (moved, unassigned and skipped tasks). Skipped
 *   mappings and unassigned tasks are also logged as warnings through kafkajs' logger.
 *
 * The name stays `MembraneTaskAssigner`, so members of an older version can share the group:
 * a leader of this version gives them nothing (their userData declares no mapping); a leader
 * of the older version deals round-robin as before.
 */
export function taskAssigner(
  topicsByMapping: ReadonlyMap<string, readonly string[]>,
  options: TaskAssignerOptions = {},
): PartitionAssigner {
  return ({ cluster, logger }): Assigner => ({
    name: TASK_ASSIGNER_NAME,
    version: 1,
    async assign({ members }) {
      const states = memberStates(members);
      // The leader's metadata covers the topics it subscribes to; fetch the others members run.
      const declared = new Set(states.flatMap((s) => [...s.mappings.values()].flat()));
      const unknown = [...declared].filter((t) => partitionCount(cluster, t) === 0).sort(compare);
      if (unknown.length > 0) {
        try {
          await cluster.addMultipleTargetTopics(unknown);
        } catch (error) {
          logger.warn('No metadata for topics other members run', {
            topics: unknown,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      const plan = planAssignment(states, (topic) => partitionCount(cluster, topic));
      if (plan.skipped.length > 0 || plan.unassigned.length > 0)
        logger.warn('Tasks left unassigned', {
          skipped: plan.skipped,
          unassigned: plan.unassigned.map(({ task }) => taskKey(task)),
        });
      options.onPlan?.(plan);
      return states.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment: plan.assignment.get(memberId) ?? {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      let owned: TaskId[] = [];
      try {
        owned = [...(options.ownedTasks?.() ?? [])];
      } catch (error) {
        logger.warn('Could not read the owned tasks; claiming none', {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      return {
        name: TASK_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: encodeMemberData({
            mappings: topicsByMapping,
            owned,
            ...(options.versions ? { versions: options.versions } : {}),
          }),
        }),
      };
    },
  });
}
