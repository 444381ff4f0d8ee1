import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import { requireDecoded, restorePartitions } from '../../adapters/kafka/restore.js';
import { ensureTopics, existingTopics } from '../../adapters/kafka/topics.js';
import {
  decodeQuarantine,
  QuarantineFormatError,
  type MessageHeaders,
  type QuarantineEntry,
} from '../../adapters/quarantine/codec.js';

/**
 * The quarantine as operators see it: every quarantine record, decoded, with its resolution.
 * Resolutions live in a compacted topic beside the quarantine, keyed by the quarantine
 * record's coordinates, so nobody rewrites the quarantine and everyone sees the same state.
 */
export interface Resolution {
  /** resolved: replayed successfully or marked; superseded: replayed, failed again, re-quarantined. */
  readonly status: 'resolved' | 'superseded';
  readonly by: 'replay' | 'resolve' | 'unpack';
  readonly at: string;
  readonly reason?: string;
  /** The membrane.id of what a replay emitted. */
  readonly outputs?: readonly string[];
}

export interface QuarantinedRecord {
  /** `partition:offset` in the quarantine topic. */
  readonly ref: string;
  readonly partition: number;
  readonly offset: string;
  readonly entry: QuarantineEntry;
  readonly upstream: {
    readonly key: Buffer | null;
    readonly value: Buffer | null;
    readonly headers: MessageHeaders;
  };
  readonly resolution: Resolution | undefined;
}

export function resolutionsTopic(quarantineTopic: string): string {
  return `${quarantineTopic}.resolutions`;
}

export function refOf(partition: number, offset: string): string {
  return `${partition}:${offset}`;
}

/** The key of a resolution marker: the quarantine record's coordinates. */
export function resolutionKey(quarantineTopic: string, ref: string): string {
  return `${quarantineTopic}/${ref}`;
}

async function readAll(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  apply: (partition: number, message: KafkaMessage) => void,
): Promise<void> {
  if (!(await existingTopics(admin, [topic])).has(topic)) return;
  const partitions = (await admin.fetchTopicOffsets(topic)).map((p) => p.partition);
  await restorePartitions(kafka, topic, partitions, apply, {
    groupPrefix: 'membrane-cli',
    timeoutMs: 120_000,
  });
}

/** Creates the resolutions topic (compacted) when it is not there yet. */
export async function ensureResolutionsTopic(admin: Admin, quarantineTopic: string): Promise<void> {
  await ensureTopics(admin, [
    {
      topic: resolutionsTopic(quarantineTopic),
      numPartitions: 1,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    },
  ]);
}

/**
 * Every resolution marker of a quarantine, by `resolutionKey`, read to the end (read_committed).
 * What a replay with the same transactional ID left open is counted only once that ID has
 * been initialised again (which aborts it): read after that, this is the settled state.
 */
export async function loadResolutions(
  kafka: Kafka,
  admin: Admin,
  quarantineTopic: string,
): Promise<Map<string, Resolution>> {
  const resolutions = new Map<string, Resolution>();
  const topic = resolutionsTopic(quarantineTopic);
  await readAll(kafka, admin, topic, (partition, message) => {
    requireDecoded(topic, partition, message);
    const key = message.key?.toString();
    if (key === undefined) return;
    if (message.value === null) resolutions.delete(key);
    else resolutions.set(key, JSON.parse(message.value.toString()) as Resolution);
  });
  return resolutions;
}

/** Reads the quarantine and its resolutions (read_committed), oldest first. */
export async function loadQuarantine(
  kafka: Kafka,
  admin: Admin,
  quarantineTopic: string,
): Promise<{ records: QuarantinedRecord[]; skipped: number }> {
  const resolutions = await loadResolutions(kafka, admin, quarantineTopic);
  const records: QuarantinedRecord[] = [];
  let skipped = 0;
  await readAll(kafka, admin, quarantineTopic, (partition, message) => {
    try {
      const { entry, upstream } = decodeQuarantine({
        key: message.key,
        value: message.value,
        headers: message.headers ?? {},
      });
      const ref = refOf(partition, message.offset);
      records.push({
        ref,
        partition,
        offset: message.offset,
        entry,
        upstream,
        resolution: resolutions.get(resolutionKey(quarantineTopic, ref)),
      });
    } catch (error) {
      if (!(error instanceof QuarantineFormatError)) throw error;
      skipped += 1;
    }
  });
  records.sort(
    (a, b) =>
      a.entry.quarantinedAt.localeCompare(b.entry.quarantinedAt) ||
      a.partition - b.partition ||
      Number(a.offset) - Number(b.offset),
  );
  return { records, skipped };
}
