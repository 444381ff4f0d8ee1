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
): Promise<GroupStatus> {
  const [{ groups }, committed, topics] = await Promise.all([
    admin.describeGroups([group]),
    admin.fetchOffsets({ groupId: group }),
    admin.listTopics(),
  ]);
  const partitions: PartitionStatus[] = [];
  for (const { topic, partitions: offsets } of committed) {
    if (!topics.includes(topic)) continue;
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
  if (topics.includes(quarantineTopic)) {
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
  };
}
