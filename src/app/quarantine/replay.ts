import { setTimeout as delay } from 'node:timers/promises';
import type { Kafka, Message } from 'kafkajs';
import { sendSlices } from '../../adapters/kafka/send-slices.js';
import { encodeQuarantine } from '../../adapters/quarantine/codec.js';
import type { Issue } from '../../core/issues.js';
import type { OutputRecord, SourceRecord } from '../../core/records.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import { limitOutputs } from '../runtime.js';
import {
  resolutionKey,
  resolutionsTopic,
  type QuarantinedRecord,
  type Resolution,
} from './store.js';

export type ReplayOutcome =
  | { readonly ref: string; readonly kind: 'replayed'; readonly outputs: readonly OutputRecord[] }
  | { readonly ref: string; readonly kind: 'dropped'; readonly reason: string }
  | { readonly ref: string; readonly kind: 'failing'; readonly issues: readonly Issue[] }
  | { readonly ref: string; readonly kind: 'skipped'; readonly reason: string };

export interface ReplayOptions {
  readonly kafka: Kafka;
  readonly quarantineTopic: string;
  /** The current mappings, by name: a record is replayed through the mapping that refused it. */
  readonly pipelines: ReadonlyMap<string, Pipeline>;
  readonly records: readonly QuarantinedRecord[];
  /** Show what would happen; write nothing. */
  readonly dryRun: boolean;
  /** At most this many records per second. */
  readonly rate?: number | undefined;
  readonly chunk?: number;
  readonly now?: () => Date;
  readonly onProgress?: (done: number, outcome: ReplayOutcome) => void;
}

/** The upstream record as it first arrived: same coordinates, so the same deterministic IDs. */
function original(record: QuarantinedRecord): SourceRecord {
  return {
    topic: record.entry.source.topic,
    partition: record.entry.source.partition,
    offset: record.entry.source.offset,
    timestamp: record.entry.source.timestamp,
    key: record.upstream.key,
    value: record.upstream.value,
    headers: record.upstream.headers,
  };
}

/**
 * Replays quarantined records through the current mappings. For each chunk, one transaction
 * holds the outputs (with `membrane.replay.of` and `membrane.replay.count`), the records that
 * fail again (re-quarantined with attempt + 1 and their new reason) and the resolution
 * markers; so a replay killed half-way and run again emits nothing twice.
 */
export async function replay(options: ReplayOptions): Promise<ReplayOutcome[]> {
  const now = options.now ?? (() => new Date());
  const chunkSize = options.chunk ?? 100;
  const outcomes: ReplayOutcome[] = [];
  // As `membrane run` does: a translated record too large for its topic fails as
  // `encode.too-large` (and stays in the quarantine) instead of failing the transaction.
  const admin = options.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const outputs = [...options.pipelines.values()].flatMap((p) => p.outputTopics());
    await limitOutputs(
      admin,
      options.pipelines.values(),
      [...new Set(outputs)].filter((topic) => existing.has(topic)),
    );
  } finally {
    await admin.disconnect();
  }
  const producer = options.dryRun
    ? undefined
    : options.kafka.producer({
        transactionalId: `membrane-replay.${options.quarantineTopic}`,
        idempotent: true,
        maxInFlightRequests: 1,
      });
  await producer?.connect();
  const started = Date.now();
  try {
    for (let from = 0; from < options.records.length; from += chunkSize) {
      const chunk = options.records.slice(from, from + chunkSize);
      const byTopic = new Map<string, Message[]>();
      const push = (topic: string, message: Message): void => {
        const list = byTopic.get(topic) ?? [];
        list.push(message);
        byTopic.set(topic, list);
      };
      const resolve = (ref: string, resolution: Resolution): void => {
        push(resolutionsTopic(options.quarantineTopic), {
          key: resolutionKey(options.quarantineTopic, ref),
          value: JSON.stringify(resolution),
        });
      };
      const at = now().toISOString();
      const done: ReplayOutcome[] = [];
      for (const record of chunk) {
        if (options.rate !== undefined && options.rate > 0) {
          const due = started + ((outcomes.length + done.length) * 1000) / options.rate;
          if (due > Date.now()) await delay(due - Date.now());
        }
        const name = record.entry.mapping.split('@')[0] ?? '';
        const pipeline = options.pipelines.get(name);
        let outcome: ReplayOutcome;
        if (!pipeline) {
          outcome = { ref: record.ref, kind: 'skipped', reason: `no mapping named ${name}` };
        } else {
          const result = await pipeline.process(original(record));
          if (result.kind === 'pass') {
            outcome = { ref: record.ref, kind: 'replayed', outputs: result.outputs };
            for (const output of result.outputs) {
              push(output.topic, {
                key: output.key,
                value: output.value,
                headers: {
                  ...output.headers,
                  'membrane.replay.of': `${options.quarantineTopic}/${record.ref}`,
                  'membrane.replay.count': String(record.entry.attempt),
                },
              });
            }
            resolve(record.ref, {
              status: 'resolved',
              by: 'replay',
              at,
              outputs: result.outputs.map((o) => o.id),
            });
          } else if (result.kind === 'drop') {
            outcome = { ref: record.ref, kind: 'dropped', reason: result.reason };
            resolve(record.ref, {
              status: 'resolved',
              by: 'replay',
              at,
              reason: `dropped: ${result.reason}`,
            });
          } else {
            outcome = { ref: record.ref, kind: 'failing', issues: result.issues };
            const again = encodeQuarantine(record.upstream, {
              ...record.entry,
              mapping: pipeline.ref,
              stage: result.stage,
              issues: result.issues,
              id: result.id,
              quarantinedAt: at,
              attempt: record.entry.attempt + 1,
            });
            push(options.quarantineTopic, {
              key: again.key,
              value: again.value,
              headers: again.headers,
            });
            resolve(record.ref, {
              status: 'superseded',
              by: 'replay',
              at,
              reason: result.issues[0]?.code ?? result.stage,
            });
          }
        }
        done.push(outcome);
      }
      if (producer && byTopic.size > 0) {
        const transaction = await producer.transaction();
        try {
          const topicMessages = [...byTopic].map(([topic, messages]) => ({ topic, messages }));
          for (const slice of sendSlices(topicMessages))
            await transaction.sendBatch({ topicMessages: slice, acks: -1 });
          await transaction.commit();
        } catch (error) {
          await transaction.abort().catch(() => undefined);
          throw error;
        }
      }
      for (const outcome of done) {
        outcomes.push(outcome);
        options.onProgress?.(outcomes.length, outcome);
      }
    }
  } finally {
    await producer?.disconnect();
  }
  return outcomes;
}

/** Marks records resolved without replaying them (known junk), with the reason given. */
export async function resolveRecords(
  kafka: Kafka,
  quarantineTopic: string,
  records: readonly QuarantinedRecord[],
  reason: string,
  now: Date,
): Promise<number> {
  if (records.length === 0) return 0;
  const producer = kafka.producer({ idempotent: true });
  await producer.connect();
  try {
    const at = now.toISOString();
    await producer.send({
      topic: resolutionsTopic(quarantineTopic),
      acks: -1,
      messages: records.map((record) => ({
        key: resolutionKey(quarantineTopic, record.ref),
        value: JSON.stringify({
          status: 'resolved',
          by: 'resolve',
          at,
          reason,
        } satisfies Resolution),
      })),
    });
  } finally {
    await producer.disconnect();
  }
  return records.length;
}
