import { AssignerProtocol, type Assigner, type PartitionAssigner } from 'kafkajs';

/**
 * A task is partition p of every input topic of one mapping. This assigner gives all of a
 * task's topic-partitions to one member (Kafka Streams' rule for co-partitioned inputs), so
 * one member sees every record of an aggregate and owns its state. Tasks are spread over the
 * members round-robin, in a fixed order, so every member computes the same plan.
 */
export interface TaskId {
  readonly mapping: string;
  readonly partition: number;
}

export function taskKey(task: TaskId): string {
  return `${task.mapping}/${task.partition}`;
}

/** The tasks of a set of mappings, given each topic's partition count. */
export function planTasks(
  topicsByMapping: ReadonlyMap<string, readonly string[]>,
  partitionsOf: (topic: string) => number,
): { task: TaskId; topics: readonly string[] }[] {
  const tasks: { task: TaskId; topics: readonly string[] }[] = [];
  for (const [mapping, topics] of [...topicsByMapping].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const count = Math.max(0, ...topics.map(partitionsOf));
    for (let partition = 0; partition < count; partition++)
      tasks.push({ task: { mapping, partition }, topics });
  }
  // Interleave mappings: partition 0 of each, then partition 1 of each… spreads load evenly.
  return tasks.sort(
    (a, b) => a.task.partition - b.task.partition || (a.task.mapping < b.task.mapping ? -1 : 1),
  );
}

export const TASK_ASSIGNER_NAME = 'MembraneTaskAssigner';

export function taskAssigner(
  topicsByMapping: ReadonlyMap<string, readonly string[]>,
): PartitionAssigner {
  return ({ cluster }): Assigner => ({
    name: TASK_ASSIGNER_NAME,
    version: 1,
    assign({ members }) {
      const memberIds = members.map((m) => m.memberId).sort();
      const plan = planTasks(
        topicsByMapping,
        (topic) => cluster.findTopicPartitionMetadata(topic).length,
      );
      const assignment = new Map<string, Record<string, number[]>>(memberIds.map((id) => [id, {}]));
      plan.forEach(({ task, topics }, i) => {
        const member = assignment.get(memberIds[i % memberIds.length] ?? '');
        if (!member) return;
        for (const topic of topics) (member[topic] ??= []).push(task.partition);
      });
      return Promise.resolve(
        memberIds.map((memberId) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: assignment.get(memberId) ?? {},
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
    protocol({ topics }) {
      return {
        name: TASK_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.alloc(0),
        }),
      };
    },
  });
}
