import type { Admin, Kafka } from 'kafkajs';
import { ensureTopics } from '../../src/adapters/kafka/topics.js';
import { formatClock } from '../../src/core/vector-clock.js';
import type { MembraneProcess } from './membrane-process.js';

/**
 * Fills a task changelog (`<group>.<mapping>.clocks`, compacted, one partition per task)
 * with `perPartition` vector clocks in every partition, written in transactions of 5,000 as
 * membrane writes them, so that restoring a task takes seconds. The aggregates are
 * `prefill-<partition>-<n>`: none of them is in any load, so the clocks the scenarios check
 * never meet them. Creates the topic; returns how long the writing took, in ms.
 */
export async function prefillChangelog(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  partitions: number,
  perPartition: number,
): Promise<number> {
  const started = Date.now();
  await ensureTopics(admin, [
    {
      topic,
      numPartitions: partitions,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    },
  ]);
  const BATCH = 5000;
  await Promise.all(
    Array.from({ length: partitions }, async (_, partition) => {
      const producer = kafka.producer({
        transactionalId: `${topic}.prefill.${partition}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
      await producer.connect();
      try {
        for (let from = 0; from < perPartition; from += BATCH) {
          const transaction = await producer.transaction();
          await transaction.send({
            topic,
            messages: Array.from({ length: Math.min(BATCH, perPartition - from) }, (_, n) => ({
              key: `c|prefill-${partition}-${from + n}`,
              value: formatClock({ 'legacy-erp': 1 + ((from + n) % 7), wms: (from + n) % 3 }),
              partition,
            })),
          });
          await transaction.commit();
        }
      } finally {
        await producer.disconnect();
      }
    }),
  );
  return Date.now() - started;
}

/**
 * What a member's info log says about its tasks: the tasks of its latest assignment
 * ('tasks assigned') and those running (adopted, state restored, not closed since). Tasks
 * assigned but not running are being adopted: fenced, then restored from the changelog.
 */
export interface TaskWatch {
  readonly member: MembraneProcess;
  assigned(): readonly string[];
  running(): readonly string[];
  /** Assigned here and not running yet: adopting (restoring) them. */
  restoring(): readonly string[];
  /** How many 'tasks assigned' lines it printed (assignments it took part in). */
  assignments(): number;
  /** Milliseconds since its latest 'tasks assigned' line arrived. */
  sinceAssigned(): number;
  /** Each adoption it finished: the task, records restored, ms from its assignment. */
  adoptions(): readonly { task: string; records: number; ms: number }[];
}

/** Follows `member`'s JSON log lines (LOG_LEVEL=info or finer) as they arrive. */
export function watchTasks(member: MembraneProcess): TaskWatch {
  let assigned: string[] = [];
  let assignments = 0;
  let assignedAt = Date.now();
  const adoptions: { task: string; records: number; ms: number }[] = [];
  const running = new Set<string>();
  let pending = '';
  const line = (text: string): void => {
    if (!text.startsWith('{')) return;
    let entry: { msg?: unknown; tasks?: unknown; task?: unknown; records?: unknown };
    try {
      entry = JSON.parse(text) as typeof entry;
    } catch {
      return;
    }
    if (entry.msg === 'tasks assigned' && Array.isArray(entry.tasks)) {
      assigned = entry.tasks.map(String);
      assignments += 1;
      assignedAt = Date.now();
    } else if (entry.msg === 'task adopted; state restored' && typeof entry.task === 'string') {
      running.add(entry.task);
      adoptions.push({
        task: entry.task,
        records: Number(entry.records),
        ms: Date.now() - assignedAt,
      });
    } else if (entry.msg === 'task closed' && typeof entry.task === 'string') {
      running.delete(entry.task);
    }
  };
  const onData = (chunk: Buffer): void => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const text of lines) line(text);
  };
  member.child.stdout?.on('data', onData);
  member.child.stderr?.on('data', onData);
  return {
    member,
    assigned: () => assigned,
    running: () => [...running],
    restoring: () => assigned.filter((task) => !running.has(task)),
    assignments: () => assignments,
    sinceAssigned: () => Date.now() - assignedAt,
    adoptions: () => adoptions,
  };
}

/**
 * The restore consumer groups (`<group>.restore.<uuid>`) that are Stable now: a restore
 * whose consumer has joined and been given its changelog partition, so it is fetching.
 * A restore deletes its group when it ends; a killed member's group lingers (until its
 * session expires, then Empty), so compare with an earlier set to see a restore that began
 * since.
 */
export async function restoresFetching(admin: Admin, group: string): Promise<Set<string>> {
  const { groups } = await admin.listGroups();
  const ids = groups.map((g) => g.groupId).filter((id) => id.startsWith(`${group}.restore.`));
  if (ids.length === 0) return new Set();
  const described = await admin.describeGroups(ids);
  return new Set(
    described.groups
      .filter((g) => g.state === 'Stable' && g.members.length > 0)
      .map((g) => g.groupId),
  );
}
