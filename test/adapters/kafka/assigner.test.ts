import { AssignerProtocol, type Cluster } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { planTasks, taskAssigner } from '../../../src/adapters/kafka/assigner.js';

const partitions: Record<string, number> = { 'erp.orders': 3, 'erp.order-lines': 3, wms: 2 };
const topicsByMapping = new Map([
  ['orders', ['erp.orders', 'erp.order-lines']],
  ['stock', ['wms']],
]);
const cluster = {
  findTopicPartitionMetadata: (topic: string) =>
    Array.from({ length: partitions[topic] ?? 0 }, (_, partitionId) => ({ partitionId })),
} as unknown as Cluster;

async function assign(members: string[]): Promise<Record<string, Record<string, number[]>>> {
  const assigner = taskAssigner(topicsByMapping)({
    cluster,
    groupId: 'g',
    logger: undefined as never,
  });
  const result = await assigner.assign({
    members: members.map((memberId) => ({ memberId, memberMetadata: Buffer.alloc(0) })),
    topics: Object.keys(partitions),
  });
  return Object.fromEntries(
    result.map(({ memberId, memberAssignment }) => [
      memberId,
      AssignerProtocol.MemberAssignment.decode(memberAssignment)?.assignment ?? {},
    ]),
  );
}

describe('the task assigner', () => {
  it('plans one task per partition of each mapping', () => {
    expect(
      planTasks(topicsByMapping, (t) => partitions[t] ?? 0).map(
        ({ task }) => `${task.mapping}/${task.partition}`,
      ),
    ).toEqual(['orders/0', 'stock/0', 'orders/1', 'stock/1', 'orders/2']);
  });

  it('gives partition p of every co-partitioned input to the same member', async () => {
    for (const members of [['a'], ['a', 'b'], ['c', 'a', 'b'], ['a', 'b', 'c', 'd', 'e', 'f']]) {
      const assignment = await assign(members);
      for (const owned of Object.values(assignment)) {
        expect(owned['erp.orders'] ?? []).toEqual(owned['erp.order-lines'] ?? []);
      }
      const all = Object.values(assignment).flatMap((owned) =>
        Object.entries(owned).flatMap(([t, ps]) => ps.map((p) => `${t}:${p}`)),
      );
      expect(all.sort()).toEqual([
        'erp.order-lines:0',
        'erp.order-lines:1',
        'erp.order-lines:2',
        'erp.orders:0',
        'erp.orders:1',
        'erp.orders:2',
        'wms:0',
        'wms:1',
      ]);
    }
  });

  it('spreads tasks evenly and the same way on every member', async () => {
    const first = await assign(['b', 'a']);
    expect(await assign(['a', 'b'])).toEqual(first);
    const counts = Object.values(first).map(
      (owned) => (owned['erp.orders']?.length ?? 0) + (owned['wms']?.length ?? 0),
    );
    expect(counts.sort()).toEqual([2, 3]);
  });
});
