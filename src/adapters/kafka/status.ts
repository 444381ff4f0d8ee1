import { liveMembers, type LiveMember } from './members.js';
import type { Admin, Kafka } from 'kafkajs';
import { QUARANTINE_HEADERS } from '../quarantine/codec.js';
import { restorePartitions } from './restore.js';

export interface PartitionStatus {
  readonly topic: string;
  readonly partition: number;
  /** The next offset the group will read; -1 when it has committed nothing. */
  readonly committed: number;
  readonly end: number;
  readonly lag: number;
}

export interface GroupStatus {
  readonly group: string;
  readonly state: string;
  readonly members: number;
  readonly partitions: readonly PartitionStatus[];
  /** Quarantine records by the code of their first issue (read_committed, all retained). */
  readonly quarantined: Readonly<Record<string, number>> | undefined;
  /**
   * Input topics (of `inputs`) the principal may not describe (TOPIC_AUTHORIZATION_FAILED):
   * their partitions, committed offsets and lag are unknown, and are not in `partitions`.
   */
  readonly undescribable: readonly string[];
  /**
   * The members with the mapping versions each publishes. Kafka describes a group's member
   * metadata only while it is Stable: empty otherwise.
   */
  readonly live: readonly LiveMember[];
  /**
   * Where the inputs checked beside the committed ones came from: the live members'
   * subscriptions, or (no member live) the mappings' `source.topics`.
   */
  readonly inputsFrom: 'members' | 'mappings';
}

export interface GroupStatusOptions {
  /**
   * The topics the group reads (the mappings' inputs), besides those it has committed
   * offsets on. Kafka leaves a topic the principal may not describe out of the group's
   * committed offsets and out of the topic list, as if the group had never read it: asked by
   * name, it answers TOPIC_AUTHORIZATION_FAILED (listed in `undescribable`), or
   * UNKNOWN_TOPIC_OR_PARTITION when it does not exist (left out). One the group has not
   * committed on yet shows every partition `committed: -1`, its lag the whole partition.
   */
  readonly inputs?: readonly string[];
}

/** Whether `topic` exists (it is describable): false when it does not; throws otherwise. */
async function describable(admin: Admin, topic: string): Promise<boolean> {
  try {
    await admin.fetchTopicMetadata({ topics: [topic] });
    return true;
  } catch (error) {
    if ((error as { type?: unknown }).type === 'UNKNOWN_TOPIC_OR_PARTITION') return false;
    throw error;
  }
}

function isTopicRefusal(error: unknown): boolean {
  return (error as { type?: unknown }).type === 'TOPIC_AUTHORIZATION_FAILED';
}

/**
 * Per input partition: committed offset, end offset and lag; and the quarantine records by
 * code. Counting reads the quarantine topic: its offsets also number transaction markers.
 */
export async function groupStatus(
  kafka: Kafka,
  admin: Admin,
  group: string,
  quarantineTopic: string,
  options: GroupStatusOptions = {},
): Promise<GroupStatus> {
  const [{ groups }, fetched, topics] = await Promise.all([
    admin.describeGroups([group]),
    admin.fetchOffsets({ groupId: group }),
    admin.listTopics(),
  ]);
  const committed: { topic: string; partitions: { partition: number; offset: string }[] }[] = [
    ...fetched,
  ];
  const undescribable: string[] = [];
  const present = new Set(topics);
  // The group's inputs: what its live members subscribe to, when it has any (Kafka describes
  // them while the group is Stable) — the mappings folder here may not be the one they run;
  // else the mappings' inputs.
  const live = liveMembers(groups[0]);
  const subscribed = live.flatMap((m) => m.topics);
  const inputs = subscribed.length > 0 ? subscribed : (options.inputs ?? []);
  for (const topic of new Set(inputs)) {
    if (committed.some((c) => c.topic === topic)) continue;
    try {
      if (present.has(topic) || (await describable(admin, topic))) {
        present.add(topic);
        committed.push({ topic, partitions: [] });
      }
    } catch (error) {
      if (!isTopicRefusal(error)) throw error;
      undescribable.push(topic);
    }
  }
  const partitions: PartitionStatus[] = [];
  for (const { topic, partitions: offsets } of committed) {
    if (!present.has(topic)) continue;
    const ends = await admin.fetchTopicOffsets(topic);
    for (const end of ends) {
      const at = Number(offsets.find((p) => p.partition === end.partition)?.offset ?? -1);
      const high = Number(end.high);
      const low = Number(end.low);
      partitions.push({
        topic,
        partition: end.partition,
        committed: at,
        end: high,
        lag: high - Math.max(at, low),
      });
    }
  }
  let quarantined: Record<string, number> | undefined;
  if (present.has(quarantineTopic)) {
    // A Map: a code is a header value anyone writing to the topic chose (__proto__, constructor).
    const counts = new Map<string, number>();
    const all = (await admin.fetchTopicOffsets(quarantineTopic)).map((p) => p.partition);
    await restorePartitions(
      kafka,
      quarantineTopic,
      all,
      (_partition, message) => {
        // Ours is the last value; Kafka allows a header without one (kafkajs gives null).
        const value: unknown = message.headers?.[QUARANTINE_HEADERS.code];
        const last: unknown = Array.isArray(value) ? value[value.length - 1] : value;
        const code =
          typeof last === 'string'
            ? last
            : Buffer.isBuffer(last)
              ? last.toString('utf8')
              : 'unknown';
        counts.set(code, (counts.get(code) ?? 0) + 1);
      },
      { groupPrefix: `${group}.status`, timeoutMs: 60_000 },
    );
    quarantined = Object.fromEntries(counts);
  }
  const description = groups[0];
  return {
    group,
    state: description?.state ?? 'Unknown',
    members: description?.members.length ?? 0,
    partitions: partitions.sort((a, b) =>
      a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1,
    ),
    quarantined,
    undescribable: undescribable.sort(),
    live,
    inputsFrom: subscribed.length > 0 ? 'members' : 'mappings',
  };
}
