import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  planAssignment,
  taskKey,
  type MemberState,
  type TaskPlan,
} from '../../../src/adapters/kafka/assigner.js';

/** A random group: mappings with partition counts, members running some of them and claiming tasks. */
interface Group {
  readonly counts: readonly number[]; // partitions of mapping m<i>
  readonly members: readonly {
    readonly id: string;
    readonly runs: readonly boolean[];
    readonly claims: readonly (readonly [number, number])[];
  }[];
}

const groupOf = (maxMappings: number, maxPartitions: number, maxMembers: number) =>
  fc
    .record({
      counts: fc.array(fc.integer({ min: 1, max: maxPartitions }), {
        minLength: 1,
        maxLength: maxMappings,
      }),
      ids: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 3 }), {
        minLength: 1,
        maxLength: maxMembers,
      }),
    })
    .chain(({ counts, ids }) =>
      fc.record({
        counts: fc.constant(counts),
        members: fc.tuple(
          ...ids.map((id) =>
            fc.record({
              id: fc.constant(id),
              runs: fc.array(fc.boolean(), {
                minLength: counts.length,
                maxLength: counts.length,
              }),
              // Mapping index one past the end is a mapping nobody runs; partitions may be
              // past the end too (a shrunk topic, garbage).
              claims: fc.array(
                fc.tuple(
                  fc.integer({ min: 0, max: counts.length }),
                  fc.integer({ min: 0, max: maxPartitions }),
                ),
                { maxLength: maxPartitions * 2 },
              ),
            }),
          ),
        ),
      }),
    );

const topicOf = (m: number) => `t${m}`;
const mappingOf = (m: number) => `m${m}`;

function statesOf(group: Group): MemberState[] {
  return group.members.map(({ id, runs, claims }) => {
    const mappings = new Map<string, string[]>();
    runs.forEach((runs, m) => {
      if (runs) mappings.set(mappingOf(m), [topicOf(m), `${topicOf(m)}-b`]);
    });
    return {
      memberId: id,
      topics: [...mappings.values()].flat(),
      mappings,
      owned: claims.map(([m, partition]) => ({ mapping: mappingOf(m), partition })),
    };
  });
}

const partitionsOf = (group: Group) => (topic: string) =>
  group.counts[Number(/^t(\d+)/.exec(topic)?.[1] ?? -1)] ?? 0;

/** The model, written independently of the planner: tasks, who may run them, who owned them. */
function modelOf(group: Group) {
  const tasks: { key: string; m: number; eligible: string[] }[] = [];
  group.counts.forEach((count, m) => {
    const eligible = group.members.filter((x) => x.runs[m]).map((x) => x.id);
    for (let p = 0; p < count; p++) tasks.push({ key: `${mappingOf(m)}/${p}`, m, eligible });
  });
  const valid = new Map(
    group.members.map((x) => [
      x.id,
      new Set(
        x.claims
          .filter(([m, p]) => m < group.counts.length && p < (group.counts[m] ?? 0) && x.runs[m])
          .map(([m, p]) => `${mappingOf(m)}/${p}`),
      ),
    ]),
  );
  const previous = new Map<string, string>();
  for (const task of tasks) {
    const claimants = [...valid]
      .filter(([, claims]) => claims.has(task.key))
      .sort(([a, ca], [b, cb]) => ca.size - cb.size || (a < b ? -1 : 1));
    const first = claimants[0];
    if (first) previous.set(task.key, first[0]);
  }
  return { tasks, previous };
}

type Model = ReturnType<typeof modelOf>;

function loadsOf(owner: ReadonlyMap<string, string>, ids: readonly string[]) {
  const load = new Map(ids.map((id) => [id, 0]));
  for (const id of owner.values()) load.set(id, (load.get(id) ?? 0) + 1);
  return load;
}

/**
 * Optimal balance (Harvey et al., semi-matchings): no chain u → … → v, each step a task of
 * the giver that the taker may run, with load(u) ≥ load(v) + 2.
 */
function isBalanced(model: Model, owner: ReadonlyMap<string, string>, ids: readonly string[]) {
  const load = loadsOf(owner, ids);
  const next = new Map(ids.map((id) => [id, new Set<string>()]));
  for (const task of model.tasks) {
    const from = owner.get(task.key);
    if (from !== undefined)
      for (const to of task.eligible) if (to !== from) next.get(from)?.add(to);
  }
  for (const u of ids) {
    const seen = new Set([u]);
    const queue = [u];
    while (queue.length > 0) {
      const a = queue.shift() ?? u;
      for (const b of next.get(a) ?? []) {
        if (seen.has(b)) continue;
        if ((load.get(b) ?? 0) <= (load.get(u) ?? 0) - 2) return false;
        seen.add(b);
        queue.push(b);
      }
    }
  }
  return true;
}

const movesOf = (model: Model, owner: ReadonlyMap<string, string>) =>
  [...model.previous].filter(([key, from]) => owner.get(key) !== from).length;

function ownersOf(plan: TaskPlan): Map<string, string> {
  const owner = new Map<string, string>();
  const twice: string[] = [];
  for (const [id, tasks] of plan.tasksByMember)
    for (const task of tasks) {
      if (owner.has(taskKey(task))) twice.push(taskKey(task));
      owner.set(taskKey(task), id);
    }
  expect(twice, 'tasks assigned twice').toEqual([]);
  return owner;
}

/** What every plan must satisfy, whatever the group. */
function checkInvariants(group: Group, model: Model, plan: TaskPlan) {
  const ids = group.members.map((x) => x.id);
  const owner = ownersOf(plan);
  const misplaced = model.tasks.filter((task) => {
    const id = owner.get(task.key);
    return task.eligible.length === 0 ? id !== undefined : !task.eligible.includes(id ?? '');
  });
  expect(misplaced, 'tasks unassigned or with a member that does not run them').toEqual([]);
  expect(owner.size).toBe(model.tasks.filter((t) => t.eligible.length > 0).length);
  // Every topic-partition at most once, and with the rest of its task.
  const seen = new Set<string>();
  const wrong: string[] = [];
  for (const [id, topics] of plan.assignment)
    for (const [topic, partitions] of Object.entries(topics))
      for (const p of partitions) {
        const mapping = mappingOf(Number(topic.slice(1).split('-')[0]));
        if (seen.has(`${topic}:${p}`) || owner.get(`${mapping}/${p}`) !== id)
          wrong.push(`${topic}:${p}`);
        seen.add(`${topic}:${p}`);
      }
  expect(wrong, 'topic-partitions twice or apart from their task').toEqual([]);
  expect(seen.size).toBe(owner.size * 2);
  expect(isBalanced(model, owner, ids)).toBe(true);
  expect(plan.moved).toHaveLength(movesOf(model, owner));
  return owner;
}

describe('the task plan, on random groups', () => {
  it('assigns every runnable task once, to a member that runs it, balanced, with the fewest moves', () => {
    fc.assert(
      fc.property(groupOf(3, 3, 3), (group) => {
        const model = modelOf(group);
        const plan = planAssignment(statesOf(group), partitionsOf(group));
        const owner = checkInvariants(group, model, plan);
        // Against every possible assignment: none balanced moves fewer tasks.
        const runnable = model.tasks.filter((t) => t.eligible.length > 0);
        let fewest = Infinity;
        const ids = group.members.map((x) => x.id);
        const choice = new Map<string, string>();
        const visit = (i: number) => {
          const task = runnable[i];
          if (!task) {
            if (isBalanced(model, choice, ids)) fewest = Math.min(fewest, movesOf(model, choice));
            return;
          }
          for (const id of task.eligible) {
            choice.set(task.key, id);
            visit(i + 1);
          }
        };
        visit(0);
        expect(movesOf(model, owner)).toBe(fewest);
      }),
      { numRuns: 300 },
    );
  });

  it('on larger groups: the invariants, the same plan in any member order, minimal moves when all run the same', () => {
    fc.assert(
      fc.property(groupOf(5, 12, 9), fc.boolean(), (group, homogeneous) => {
        const g: Group = homogeneous
          ? {
              ...group,
              members: group.members.map((x) => ({ ...x, runs: x.runs.map(() => true) })),
            }
          : group;
        const model = modelOf(g);
        const states = statesOf(g);
        const plan = planAssignment(states, partitionsOf(g));
        checkInvariants(g, model, plan);
        expect(planAssignment([...states].reverse(), partitionsOf(g))).toEqual(plan);
        if (homogeneous) {
          // The r heaviest previous owners keep q+1 tasks, the others q: no fewer moves exist.
          const n = model.tasks.length;
          const k = g.members.length;
          const q = Math.floor(n / k);
          const kept = [
            ...loadsOf(
              model.previous,
              g.members.map((x) => x.id),
            ).values(),
          ].sort((a, b) => b - a);
          const fewest = kept.reduce(
            (sum, c, i) => sum + Math.max(0, c - (i < n % k ? q + 1 : q)),
            0,
          );
          expect(plan.moved).toHaveLength(fewest);
        }
      }),
      { numRuns: 300 },
    );
  });
});
