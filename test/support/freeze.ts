import { readdir, readFile } from 'node:fs/promises';
import { AssignerProtocol, type Admin, type Kafka } from 'kafkajs';
import { account, readTopic, type Accounting } from './conservation.js';
import type { Received } from './kafka.js';
import type { MembraneProcess } from './membrane-process.js';
import { fateOfOrder, type OrderTopics } from './orders.js';
import { header } from './runtime.js';
import { until } from './scenario.js';

/** How each aggregate's vector clock moved, in upstream order, as read back from the outputs. */
export interface ClockReport {
  /** Aggregates whose clock did not count 1, 2, 3… in upstream order. */
  readonly aggregates: number;
  /** Steps where an aggregate's clock went below the one before it. */
  readonly back: number;
  /** Steps where it stayed the same (one upstream event emitted twice, or two events, one clock). */
  readonly repeated: number;
  /** Steps where it skipped a value. */
  readonly skipped: number;
  /** The first aggregates that did not count up, with their clocks. */
  readonly examples: readonly string[];
}

declare module 'vitest' {
  interface TaskMeta {
    /** The freeze-thaw scenario's clock figures (task.meta.reliability has no room for them). */
    clocks?: ClockReport;
  }
}

/** The process `pid` and every process below it (a wrapper's real node child, if any). */
async function processTree(pid: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (Number.isInteger(ppid)) parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i] ?? -1) ?? []));
  return tree;
}

/** A process's state letter from /proc (R, S, T for stopped, Z…); '' once it is gone. */
async function stateOf(pid: number): Promise<string> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '';
}

/**
 * Freezes a member the way a long GC pause, a swapped-out VM or `docker pause` does: SIGSTOP
 * to its process and anything it started, then waits until the kernel reports every one of
 * them stopped. Nothing runs in it — no heartbeat, no timer — until `thaw`.
 */
export async function freeze(member: MembraneProcess): Promise<void> {
  const pid = member.child.pid;
  if (pid === undefined) throw new Error('freeze: the member has no process');
  const tree = await processTree(pid);
  for (const p of tree) process.kill(p, 'SIGSTOP');
  await until(
    `process ${tree.join(', ')} stopped`,
    async () => (await Promise.all(tree.map(stateOf))).every((s) => s === 'T' || s === ''),
    [],
    10_000,
  );
}

/** Lets a frozen member run again, from exactly where it stopped. */
export async function thaw(member: MembraneProcess): Promise<void> {
  const pid = member.child.pid;
  if (pid === undefined) throw new Error('thaw: the member has no process');
  const tree = await processTree(pid);
  // Children first, so that a parent never runs while what it waits on is still stopped.
  for (const p of [...tree].reverse()) process.kill(p, 'SIGCONT');
  await until(
    `process ${tree.join(', ')} running`,
    async () => (await Promise.all(tree.map(stateOf))).every((s) => s !== 'T'),
    [],
    10_000,
  );
}

/** The group's committed offset of each partition of `topic` (-1 counts as 0). */
export async function committedByPartition(
  admin: Admin,
  group: string,
  topic: string,
): Promise<Map<number, number>> {
  const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return new Map(
    (offsets?.partitions ?? []).map((p) => [p.partition, Math.max(0, Number(p.offset))]),
  );
}

/**
 * What the broker says about the group: its state, and for each member the partitions of
 * `topic` it was assigned (decoded from the assignment the leader sent).
 */
export async function groupAssignment(
  admin: Admin,
  group: string,
  topic: string,
): Promise<{ state: string; members: number[][] }> {
  const { groups } = await admin.describeGroups([group]);
  const described = groups[0];
  if (!described) return { state: 'Unknown', members: [] };
  const members = described.members.map((m) => {
    const decoded =
      m.memberAssignment.length > 0
        ? AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
        : null;
    return [...(decoded?.assignment[topic] ?? [])].sort((a, b) => a - b);
  });
  return { state: described.state, members };
}

/** How each aggregate's clock ran, in upstream order; never throws, so the scenario can report. */
export function clockReport(outputs: readonly Received[], system: string): ClockReport {
  const byAggregate = new Map<string, [number, number][]>();
  for (const r of outputs) {
    const clock = JSON.parse(header(r, 'membrane.vclock') ?? '{}') as Record<string, number>;
    const key = header(r, 'membrane.aggregate') ?? '';
    byAggregate.set(key, [
      ...(byAggregate.get(key) ?? []),
      [Number(header(r, 'membrane.source.offset')), clock[system] ?? 0],
    ]);
  }
  let aggregates = 0;
  let back = 0;
  let repeated = 0;
  let skipped = 0;
  const examples: string[] = [];
  for (const [aggregate, list] of byAggregate) {
    const clocks = list.sort(([a], [b]) => a - b).map(([, clock]) => clock);
    if (clocks.every((clock, i) => clock === i + 1)) continue;
    aggregates += 1;
    let previous = 0;
    for (const clock of clocks) {
      if (clock < previous) back += 1;
      else if (clock === previous) repeated += 1;
      else if (clock > previous + 1) skipped += 1;
      previous = clock;
    }
    if (examples.length < 5) {
      // Around the first step that is off: `o-3 (180 outputs) …,102,103,104,104,105,…`.
      const first = clocks.findIndex((clock, i) => clock !== i + 1);
      const from = Math.max(0, first - 3);
      const shown = clocks.slice(from, from + 16).join(',');
      examples.push(`${aggregate} (${clocks.length} outputs) …,${shown},…`);
    }
  }
  return { aggregates, back, repeated, skipped, examples };
}

/**
 * Reads the input, both outputs and the quarantine back with read_committed readers, each to
 * its partitions' end offsets at the time of the call — not until an expected count, so a
 * late duplicate is seen too — and accounts for every upstream order. Also counts the
 * membrane.id values (of outputs and quarantine records that carry one) written more than
 * once, and how the clocks ran. Asserts nothing.
 */
export async function accountToTheEnd(
  kafka: Kafka,
  topics: OrderTopics,
): Promise<{
  accounting: Accounting;
  clocks: ClockReport;
  idsTwice: number;
  outputs: Received[];
}> {
  const [inputs, placed, cancelled, quarantined] = await Promise.all(
    [topics.input, topics.placed, topics.cancelled, topics.quarantine].map((topic) =>
      readTopic(kafka, topic),
    ),
  );
  const outputs = [...(placed ?? []), ...(cancelled ?? [])];
  const seen = new Set<string>();
  let idsTwice = 0;
  for (const r of [...outputs, ...(quarantined ?? [])]) {
    // A record refused before its ID could be derived (bad signature, not JSON) has none.
    const id = header(r, 'membrane.id');
    if (id === undefined || id === '') continue;
    if (seen.has(id)) idsTwice += 1;
    seen.add(id);
  }
  return {
    accounting: account(inputs ?? [], outputs, quarantined ?? [], fateOfOrder),
    clocks: clockReport(outputs, 'legacy-erp'),
    idsTwice,
    outputs,
  };
}

/**
 * At least once, a record may be translated more than once, each time with the clock its
 * aggregate had then, so clocks may repeat. What must hold: a record translated once never
 * gets a clock at or below one its aggregate already carried on the outputs (in write order:
 * an aggregate's records all go to one partition). Returns the records that broke it.
 */
export function atLeastOnceClockViolations(outputs: readonly Received[], system: string): string[] {
  const source = (r: Received): string =>
    `${header(r, 'membrane.source.partition') ?? '?'}/${header(r, 'membrane.source.offset') ?? '?'}`;
  const times = new Map<string, number>();
  for (const r of outputs) times.set(source(r), (times.get(source(r)) ?? 0) + 1);
  const highest = new Map<string, { clock: number; source: string }>();
  const violations: string[] = [];
  for (const r of outputs) {
    const aggregate = `${r.topic}:${header(r, 'membrane.aggregate') ?? ''}`;
    const clock = (JSON.parse(header(r, 'membrane.vclock') ?? '{}') as Record<string, number>)[
      system
    ];
    const n = clock ?? 0;
    const before = highest.get(aggregate);
    if (times.get(source(r)) === 1 && before !== undefined && n <= before.clock)
      violations.push(
        `${aggregate} got ${n} for ${source(r)} (translated once) after ${before.clock} for ${before.source}`,
      );
    if (before === undefined || n > before.clock)
      highest.set(aggregate, { clock: n, source: source(r) });
  }
  return violations;
}

/**
 * Stops a member with SIGTERM, as an operator would, and returns its exit code; a member
 * that has not exited after `timeoutMs` is killed (and -1 returned), so a hung zombie fails
 * the scenario instead of hanging it.
 */
export async function stopMember(member: MembraneProcess, timeoutMs = 30_000): Promise<number> {
  member.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([
    member.exited,
    new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => {
        resolve('hung');
      }, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (code !== 'hung') return code ?? -1;
  member.child.kill('SIGKILL');
  await member.exited;
  return -1;
}
