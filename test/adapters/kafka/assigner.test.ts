import { AssignerProtocol, type Cluster, type Logger } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  decodeMemberData,
  encodeMemberData,
  planAssignment,
  planTasks,
  taskAssigner,
  taskKey,
  type MemberState,
  type TaskId,
  type TaskPlan,
} from '../../../src/adapters/kafka/assigner.js';

const partitions: Record<string, number> = {
  'erp.orders': 6,
  'erp.order-lines': 6,
  wms: 6,
  crm: 4,
};
const ordersAndStock = new Map([
  ['orders', ['erp.orders', 'erp.order-lines']],
  ['stock', ['wms']],
]);
const partitionsOf = (topic: string) => partitions[topic] ?? 0;

function clusterWith(counts: Record<string, number>, added: string[][] = []): Cluster {
  return {
    findTopicPartitionMetadata: (topic: string) =>
      Array.from({ length: counts[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
    addMultipleTargetTopics: (topics: string[]) => {
      added.push(topics);
      return Promise.resolve();
    },
  } as unknown as Cluster;
}

const warnings: { message: string; extra: unknown }[] = [];
const logger = {
  warn: (message: string, extra?: unknown) => warnings.push({ message, extra }),
} as unknown as Logger;

interface Instance {
  readonly id: string;
  readonly mappings: ReadonlyMap<string, readonly string[]>;
  /** What the instance owns: updated from every assignment it receives. */
  owned: TaskId[];
  /** Overrides the join metadata (an older member, garbage). */
  readonly metadata?: Buffer;
}

function instance(id: string, mappings = ordersAndStock): Instance {
  return { id, mappings, owned: [] };
}

const tasksIn = (
  mappings: ReadonlyMap<string, readonly string[]>,
  owned: Record<string, number[]>,
) =>
  [...mappings].flatMap(([mapping, topics]) =>
    [...new Set(topics.flatMap((t) => owned[t] ?? []))].map((partition) => ({
      mapping,
      partition,
    })),
  );

/**
 * One rebalance through kafkajs' protocol: every instance encodes its join metadata with its own
 * assigner, the leader (the first instance) assigns, every instance decodes its assignment.
 */
async function rebalance(
  group: Instance[],
  counts: Record<string, number> = partitions,
  onPlan?: (plan: TaskPlan) => void,
): Promise<Record<string, Record<string, number[]>>> {
  const members = group.map((m) => ({
    memberId: m.id,
    memberMetadata:
      m.metadata ??
      taskAssigner(m.mappings, { ownedTasks: () => m.owned })({
        cluster: clusterWith(counts),
        groupId: 'g',
        logger,
      }).protocol({ topics: [...new Set([...m.mappings.values()].flat())] }).metadata,
  }));
  const leader = group[0];
  if (!leader) throw new Error('empty group');
  const result = await taskAssigner(leader.mappings, { ...(onPlan ? { onPlan } : {}) })({
    cluster: clusterWith(counts),
    groupId: 'g',
    logger,
  }).assign({ members, topics: Object.keys(counts) });
  const assignments = Object.fromEntries(
    result.map(({ memberId, memberAssignment }) => [
      memberId,
      AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {},
    ]),
  );
  for (const m of group) m.owned = tasksIn(m.mappings, assignments[m.id] ?? {});
  return assignments;
}

const keys = (tasks: readonly TaskId[]) => tasks.map(taskKey).sort();
const ownedBy = (group: Instance[]) => Object.fromEntries(group.map((m) => [m.id, keys(m.owned)]));

function state(
  memberId: string,
  mappings: Record<string, string[]>,
  owned: [string, number][] = [],
): MemberState {
  return {
    memberId,
    topics: [...new Set(Object.values(mappings).flat())],
    mappings: new Map(Object.entries(mappings)),
    owned: owned.map(([mapping, partition]) => ({ mapping, partition })),
  };
}

const loads = (plan: TaskPlan) => [...plan.tasksByMember.values()].map((tasks) => tasks.length);

describe('the task assigner', () => {
  it('plans one task per partition of each mapping', () => {
    expect(
      planTasks(
        ordersAndStock,
        (t) => ({ 'erp.orders': 3, 'erp.order-lines': 3, wms: 2 })[t] ?? 0,
      ).map(({ task }) => taskKey(task)),
    ).toEqual(['orders/0', 'stock/0', 'orders/1', 'stock/1', 'orders/2']);
  });

  it('gives partition p of every co-partitioned input to the same member, each once', async () => {
    for (const ids of [['a'], ['a', 'b'], ['c', 'a', 'b'], ['a', 'b', 'c', 'd', 'e', 'f', 'g']]) {
      const assignment = await rebalance(ids.map((id) => instance(id)));
      for (const owned of Object.values(assignment))
        expect(owned['erp.orders'] ?? []).toEqual(owned['erp.order-lines'] ?? []);
      const all = Object.values(assignment).flatMap((owned) =>
        Object.entries(owned).flatMap(([t, ps]) => ps.map((p) => `${t}:${p}`)),
      );
      expect(all.sort()).toEqual(
        ['erp.orders', 'erp.order-lines', 'wms']
          .flatMap((t) => [0, 1, 2, 3, 4, 5].map((p) => `${t}:${p}`))
          .sort(),
      );
    }
  });

  it('going from 2 to 3 members moves exactly the 4 of 12 tasks the new member needs', async () => {
    const group = [instance('a'), instance('b')];
    await rebalance(group);
    expect(group.map((m) => m.owned.length)).toEqual([6, 6]);
    const before = ownedBy(group);

    let plan: TaskPlan | undefined;
    group.push(instance('c'));
    await rebalance(group, partitions, (p) => (plan = p));
    expect(group.map((m) => m.owned.length)).toEqual([4, 4, 4]);
    expect(plan?.moved).toHaveLength(4);
    for (const id of ['a', 'b']) {
      const now = ownedBy(group)[id] ?? [];
      expect(now.every((task) => before[id]?.includes(task))).toBe(true);
    }
    // The newcomer gets some of each mapping, not 4 of one.
    expect(new Set(group[2]?.owned.map((t) => t.mapping))).toEqual(new Set(['orders', 'stock']));
  });

  it('going from 3 to 2 members moves only the departed member’s tasks', async () => {
    const group = [instance('a'), instance('b'), instance('c')];
    await rebalance(group);
    const before = ownedBy(group);
    let plan: TaskPlan | undefined;
    const remaining = group.filter((m) => m.id !== 'b');
    await rebalance(remaining, partitions, (p) => (plan = p));
    expect(plan?.moved).toEqual([]);
    for (const m of remaining) {
      expect(m.owned).toHaveLength(6);
      expect(before[m.id]?.every((task) => keys(m.owned).includes(task))).toBe(true);
    }
  });

  it('a member restarting (owning nothing) gets back a fair share without others losing more', async () => {
    const group = [instance('a'), instance('b'), instance('c')];
    await rebalance(group);
    const [, b] = group;
    if (b) b.owned = [];
    let plan: TaskPlan | undefined;
    await rebalance(group, partitions, (p) => (plan = p));
    expect(group.map((m) => m.owned.length)).toEqual([4, 4, 4]);
    expect(plan?.moved).toEqual([]);
  });

  it('gives nothing to a member with garbage or empty userData, and everything to the others', async () => {
    const garbage = [
      Buffer.alloc(0),
      Buffer.from('not json'),
      Buffer.from('[1,2]'),
      Buffer.from('{"v":0,"mappings":{"orders":["erp.orders","erp.order-lines"]}}'),
      Buffer.from([0xff, 0x00, 0x13]),
    ];
    for (const userData of garbage) {
      const old: Instance = {
        ...instance('0-old'),
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics: Object.keys(partitions),
          userData,
        }),
      };
      const assignment = await rebalance([instance('b'), old, instance('c')]);
      expect(assignment['0-old']).toEqual({});
      expect(Object.values(assignment).reduce((n, owned) => n + (owned.wms?.length ?? 0), 0)).toBe(
        6,
      );
    }
    // Not even kafkajs' own layout: the member subscribes to nothing.
    const broken: Instance = { ...instance('x'), metadata: Buffer.from([1]) };
    const assignment = await rebalance([instance('a'), broken]);
    expect(assignment.x).toEqual({});
    expect(assignment.a?.wms).toHaveLength(6);
  });

  it('reads and tolerates userData of any shape', () => {
    const data = {
      mappings: new Map([['orders', ['erp.orders', 'erp.order-lines']]]),
      owned: [
        { mapping: 'orders', partition: 3 },
        { mapping: 'orders', partition: 1 },
      ],
    };
    const decoded = decodeMemberData(encodeMemberData(data));
    expect([...decoded.mappings]).toEqual([...data.mappings]);
    expect(keys(decoded.owned)).toEqual(['orders/1', 'orders/3']);
    // A later version that adds fields is still read; malformed entries are dropped one by one.
    const later = decodeMemberData(
      Buffer.from(
        JSON.stringify({
          v: 2,
          extra: true,
          mappings: { a: ['t'], b: [], c: [1], d: 'x' },
          owned: { a: [0, -1, 1.5, '2', 3], b: 'x' },
        }),
      ),
    );
    expect([...later.mappings]).toEqual([['a', ['t']]]);
    expect(keys(later.owned)).toEqual(['a/0', 'a/3']);
    for (const garbage of [null, undefined, Buffer.from('null'), Buffer.from('{"v":"1"}')])
      expect(decodeMemberData(garbage)).toEqual({ mappings: new Map(), owned: [] });
  });

  it('carries the versions of the mappings a member runs; an older member says none', () => {
    const versions = new Map([
      ['orders', { version: 3, digest: 'a1b2c3d4e5f6' }],
      ['stock', { version: 1, digest: '00ff00ff00ff' }],
    ]);
    const decoded = decodeMemberData(
      encodeMemberData({ mappings: new Map([['orders', ['erp.orders']]]), owned: [], versions }),
    );
    expect(decoded.versions).toEqual(versions);
    expect(decodeMemberData(encodeMemberData({ mappings: new Map(), owned: [] })).versions).toBe(
      undefined,
    );
    // Malformed entries are dropped one by one.
    const odd = decodeMemberData(
      Buffer.from(
        JSON.stringify({
          v: 1,
          mappings: {},
          owned: {},
          versions: {
            a: { version: 2, digest: 'abc' },
            b: { version: '2', digest: 'abc' },
            c: { version: 2, digest: 'XYZ' },
            d: 7,
          },
        }),
      ),
    );
    expect(odd.versions).toEqual(new Map([['a', { version: 2, digest: 'abc' }]]));
  });

  it('gives a mapping only members that run it, and balances the rest around them', () => {
    // a runs x and y, b only x: y is all on a, and b takes enough of x to even the loads.
    const counts: Record<string, number> = { tx: 6, ty: 2 };
    const a = state('a', { x: ['tx'], y: ['ty'] });
    const b = state('b', { x: ['tx'] });
    const plan = planAssignment([a, b], (t) => counts[t] ?? 0);
    expect(keys(plan.tasksByMember.get('a') ?? []).filter((t) => t.startsWith('y'))).toEqual([
      'y/0',
      'y/1',
    ]);
    expect(plan.assignment.get('b')?.ty).toBeUndefined();
    expect(plan.assignment.get('a')?.tx).toHaveLength(2);
    expect(plan.assignment.get('b')?.tx).toHaveLength(4);
    expect(loads(plan)).toEqual([4, 4]);

    // With as many y tasks as x tasks, even loads mean x all on b.
    const even = planAssignment([a, b], (t) => ({ tx: 4, ty: 4 })[t] ?? 0);
    expect(even.assignment.get('a')).toEqual({ ty: [0, 1, 2, 3] });
    expect(even.assignment.get('b')).toEqual({ tx: [0, 1, 2, 3] });

    // More y than x: a cannot hand y to b, so a carries more; x goes to b.
    const skewed = planAssignment([a, b], (t) => ({ tx: 2, ty: 6 })[t] ?? 0);
    expect(skewed.assignment.get('a')).toEqual({ ty: [0, 1, 2, 3, 4, 5] });
    expect(skewed.assignment.get('b')).toEqual({ tx: [0, 1] });
    expect(skewed.unassigned).toEqual([]);
  });

  it('in a rolling deploy, a mapping new members run is fetched and given only to them', async () => {
    const added: string[][] = [];
    const withCrm = new Map([...ordersAndStock, ['crm', ['crm']]]);
    // The leader (old config) has no crm metadata until it asks for it.
    const counts: Record<string, number> = { ...partitions };
    const cluster = clusterWith(counts, added);
    const addTopics = cluster.addMultipleTargetTopics.bind(cluster);
    cluster.addMultipleTargetTopics = async (topics) => {
      counts.crm = 4;
      await addTopics(topics);
    };
    delete counts.crm;
    const members = [
      { id: 'a', mappings: ordersAndStock },
      { id: 'b', mappings: withCrm },
      { id: 'c', mappings: ordersAndStock },
    ].map(({ id, mappings }) => ({
      memberId: id,
      memberMetadata: taskAssigner(mappings)({ cluster, groupId: 'g', logger }).protocol({
        topics: [...new Set([...mappings.values()].flat())],
      }).metadata,
    }));
    const result = await taskAssigner(ordersAndStock)({ cluster, groupId: 'g', logger }).assign({
      members,
      topics: Object.keys(partitions),
    });
    expect(added).toEqual([['crm']]);
    const byMember = Object.fromEntries(
      result.map(({ memberId, memberAssignment }) => [
        memberId,
        AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {},
      ]),
    );
    expect(byMember.b?.crm).toEqual([0, 1, 2, 3]);
    const total = (id: string) =>
      (byMember[id]?.crm?.length ?? 0) +
      (byMember[id]?.wms?.length ?? 0) +
      (byMember[id]?.['erp.orders']?.length ?? 0);
    // 16 tasks over 3 members, b (the only one running crm) among them.
    expect(['a', 'b', 'c'].map(total).sort()).toEqual([5, 5, 6]);
  });

  it('reports mappings it cannot place: missing metadata, other inputs, shared inputs', () => {
    const plan = planAssignment(
      [
        state('a', { orders: ['erp.orders', 'erp.order-lines'], ghost: ['nowhere'] }),
        state('b', { orders: ['erp.orders', 'erp.order-lines'], lines: ['erp.order-lines'] }),
        state('c', { orders: ['erp.orders'] }),
      ],
      partitionsOf,
    );
    expect(plan.skipped).toEqual([
      {
        mapping: 'ghost',
        topics: ['nowhere'],
        memberIds: ['a'],
        reason: 'no partition metadata for nowhere',
      },
      {
        mapping: 'lines',
        topics: ['erp.order-lines'],
        memberIds: ['b'],
        reason: 'input erp.order-lines is also an input of mapping orders',
      },
      {
        mapping: 'orders',
        topics: ['erp.orders'],
        memberIds: ['c'],
        reason: '2 member(s) run it with inputs erp.order-lines, erp.orders',
      },
    ]);
    expect(keys(plan.unassigned.map(({ task }) => task))).toEqual(
      [0, 1, 2, 3, 4, 5].map((p) => `lines/${p}`).sort(),
    );
    expect(plan.tasksByMember.get('c')).toEqual([]);
    expect(loads(plan)).toEqual([3, 3, 0]);
  });

  it('logs what it leaves unassigned through kafkajs’ logger and onPlan', async () => {
    warnings.length = 0;
    const plans: TaskPlan[] = [];
    await rebalance([instance('a', new Map([['ghost', ['nowhere']]]))], partitions, (plan) =>
      plans.push(plan),
    );
    expect(plans[0]?.skipped.map((s) => s.mapping)).toEqual(['ghost']);
    expect(warnings.map((w) => w.message)).toContain('Tasks left unassigned');
  });

  it('does not give a task to a member that runs its mapping but does not subscribe to it', () => {
    const plan = planAssignment(
      [{ ...state('a', { stock: ['wms'] }), topics: [] }, state('b', { stock: ['wms'] })],
      partitionsOf,
    );
    expect(loads(plan)).toEqual([0, 6]);
    expect(plan.skipped[0]?.reason).toBe('the member does not subscribe to wms');
  });

  it('keeps a task two members claim (a zombie came back) with one of them', () => {
    const one = { stock: ['wms'] };
    const all: [string, number][] = [0, 1, 2, 3, 4, 5].map((p) => ['stock', p]);
    const plan = planAssignment(
      [state('a', one, all.slice(0, 3)), state('z', one, all), state('b', one, [])],
      partitionsOf,
    );
    // a claims fewer tasks, so it keeps the three both claim; z keeps the other three, and
    // each gives one to b.
    expect(loads(plan)).toEqual([2, 2, 2]);
    expect(plan.moved).toHaveLength(2);
    const owners = [...plan.tasksByMember.values()].flat().map(taskKey).sort();
    expect(owners).toEqual(all.map(([m, p]) => `${m}/${p}`).sort());
  });

  it('keeps loads within one whenever every member runs the same mappings', () => {
    for (let size = 1; size <= 9; size++)
      for (const count of [1, 5, 12, 37]) {
        const counts: Record<string, number> = { t1: count, t2: 3 };
        const members = Array.from({ length: size }, (_, i) =>
          state(`m${i}`, { one: ['t1'], two: ['t2'] }, [
            ['one', i],
            ['one', i * 2],
            ['two', i % 3],
          ]),
        );
        const l = loads(planAssignment(members, (t) => counts[t] ?? 0));
        expect(l.reduce((a, b) => a + b, 0)).toBe(count + 3);
        expect(Math.max(...l) - Math.min(...l)).toBeLessThanOrEqual(1);
      }
  });

  it('makes the same plan whatever order the members come in', () => {
    const members = [
      state('d', { orders: ['erp.orders', 'erp.order-lines'] }, [['orders', 1]]),
      state('a', { orders: ['erp.orders', 'erp.order-lines'], stock: ['wms'] }, [
        ['stock', 0],
        ['orders', 1],
      ]),
      state('c', { stock: ['wms'] }, [['stock', 2]]),
      state('b', { orders: ['erp.orders', 'erp.order-lines'], stock: ['wms'] }),
    ];
    const reference = planAssignment(members, partitionsOf);
    const permutations = (xs: MemberState[]): MemberState[][] =>
      xs.length <= 1
        ? [xs]
        : xs.flatMap((x, i) =>
            permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((rest) => [x, ...rest]),
          );
    for (const order of permutations(members))
      expect(planAssignment(order, partitionsOf)).toEqual(reference);
  });
});
