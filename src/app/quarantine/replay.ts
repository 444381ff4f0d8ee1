import { setTimeout as delay } from 'node:timers/promises';
import type { Admin, Kafka, Message, Producer, Transaction } from 'kafkajs';
import { sendSlices } from '../../adapters/kafka/send-slices.js';
import { encodeQuarantine } from '../../adapters/quarantine/codec.js';
import { MembraneError, messageOf } from '../../core/errors.js';
import type { Issue } from '../../core/issues.js';
import type { OutputRecord, SourceRecord } from '../../core/records.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import type { DedupPort } from '../../pipeline/ports.js';
import { limitOutputs } from '../runtime/bootstrap.js';
import {
  loadResolutions,
  resolutionKey,
  resolutionsTopic,
  type QuarantinedRecord,
  type Resolution,
} from './store.js';

export type ReplayOutcome =
  | { readonly ref: string; readonly kind: 'replayed'; readonly outputs: readonly OutputRecord[] }
  | { readonly ref: string; readonly kind: 'dropped'; readonly reason: string }
  | { readonly ref: string; readonly kind: 'failing'; readonly issues: readonly Issue[] }
  | { readonly ref: string; readonly kind: 'skipped'; readonly reason: string }
  /** Resolved since it was selected (by a replay that ran meanwhile, or `resolve`): left alone. */
  | { readonly ref: string; readonly kind: 'resolved-meanwhile'; readonly resolution: Resolution };

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

/** The one transactional ID of every replay of a quarantine: two replays fence each other. */
export function replayTransactionalId(quarantineTopic: string): string {
  return `membrane-replay.${quarantineTopic}`;
}

/** Kafka errors that mean a newer producer initialised the same transactional ID. */
const FENCED = new Set(['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH']);

/**
 * Whether `error`, or what it wraps (kafkajs puts the last attempt's error in `cause` of
 * KafkaJSNumberOfRetriesExceeded, several in `errors` of an aggregate), says that another
 * producer with the same transactional ID fenced this one.
 */
export function isFenced(error: unknown, depth = 0): boolean {
  if (depth > 8 || error === null || typeof error !== 'object') return false;
  const e = error as { type?: unknown; cause?: unknown; originalError?: unknown; errors?: unknown };
  if (typeof e.type === 'string' && FENCED.has(e.type)) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isFenced(inner, depth + 1))) return true;
  return isFenced(e.cause, depth + 1) || isFenced(e.originalError, depth + 1);
}

/**
 * Another replay of the same quarantine initialised the transactional ID after this one: it
 * now owns it, and everything this one had not committed was aborted. `done` records were
 * committed before; nothing more is written.
 */
export class ReplayTakenOver extends MembraneError {
  override readonly name = 'ReplayTakenOver';

  constructor(
    readonly quarantineTopic: string,
    readonly done: number,
    readonly selected: number,
    cause: unknown,
  ) {
    super(
      'quarantine.replay-taken-over',
      `Another \`membrane quarantine replay\` of ${quarantineTopic} took over, so this one stopped after ${done} of the ${selected} records it selected; nothing was written twice, and running it again replays whatever is still unresolved.`,
      { retriable: true, cause },
    );
  }
}

/**
 * The resolution a record got after it was selected (its marker now differs from the one it
 * was selected with), or undefined when it is as it was.
 */
export function resolvedMeanwhile(
  record: QuarantinedRecord,
  settled: ReadonlyMap<string, Resolution>,
  quarantineTopic: string,
): Resolution | undefined {
  const now = settled.get(resolutionKey(quarantineTopic, record.ref));
  if (now === undefined) return undefined;
  if (record.resolution !== undefined && JSON.stringify(now) === JSON.stringify(record.resolution))
    return undefined;
  return now;
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
 * The records oldest first, and those quarantined at the same time (one chunk of a task, one
 * unpacked batch) in their upstream order: the quarantine spreads them over its partitions by
 * their upstream key, so its own order would interleave one output key's events.
 */
function inSourceOrder(records: readonly QuarantinedRecord[]): QuarantinedRecord[] {
  return [...records].sort((a, b) => {
    const x = a.entry;
    const y = b.entry;
    if (x.quarantinedAt !== y.quarantinedAt) return x.quarantinedAt < y.quarantinedAt ? -1 : 1;
    if (x.source.topic !== y.source.topic) return x.source.topic < y.source.topic ? -1 : 1;
    if (x.source.partition !== y.source.partition) return x.source.partition - y.source.partition;
    return (
      byOffset(x.source.offset, y.source.offset) ||
      a.partition - b.partition ||
      byOffset(a.offset, b.offset)
    );
  });
}

/** Offsets in decimal, compared as numbers; never throws (the headers are anyone's to write). */
function byOffset(p: string, q: string): number {
  return p.length - q.length || (p < q ? -1 : p > q ? 1 : 0);
}

/**
 * Initialises the replay's transactional ID: kafkajs sends InitProducerId only when the first
 * transaction begins, so one is begun and dropped (sending nothing). That bumps the epoch,
 * fencing any other replay of this quarantine (its next write fails), and makes the
 * coordinator abort what that replay left open; it returns once that abort is complete.
 */
async function initialise(producer: Producer): Promise<void> {
  await (await producer.transaction()).abort();
}

/**
 * The transactional producer every replay and unpack of `topic` shares, initialised (fencing
 * any other one and aborting what it left open), and the resolutions read only then: the
 * settled state, which no other run can change any more without this one's writes failing.
 */
export async function fencedProducer(
  kafka: Kafka,
  admin: Admin,
  topic: string,
  command: 'replay' | 'unpack',
): Promise<{ producer: Producer; settled: ReadonlyMap<string, Resolution> }> {
  const producer = kafka.producer({
    transactionalId: replayTransactionalId(topic),
    idempotent: true,
    maxInFlightRequests: 1,
  });
  try {
    await producer.connect();
    await initialise(producer);
  } catch (error) {
    await producer.disconnect().catch(() => undefined);
    throw new MembraneError(
      'kafka.producer-unavailable',
      `Cannot start the producer of the ${command} of ${topic}: ${messageOf(error)}`,
      { retriable: true, cause: error },
    );
  }
  return { producer, settled: await loadResolutions(kafka, admin, topic) };
}

/**
 * Replays quarantined records through the current mappings. For each chunk, one transaction
 * holds the outputs (with `membrane.replay.of` and `membrane.replay.count`), the records that
 * fail again (re-quarantined with attempt + 1 and their new reason) and the resolution
 * markers; so a replay killed half-way and run again emits nothing twice.
 *
 * Two replays of the same records at once are safe too, the Kafka Streams way: each first
 * initialises the shared transactional ID (fencing the other), THEN reads the resolutions to
 * the end and leaves alone what the other already committed. From then on the other's
 * writes fail; it throws `ReplayTakenOver` after aborting, having written nothing twice.
 */
export async function replay(options: ReplayOptions): Promise<ReplayOutcome[]> {
  const now = options.now ?? (() => new Date());
  const chunkSize = options.chunk ?? 100;
  const topic = options.quarantineTopic;
  const outcomes: ReplayOutcome[] = [];
  const admin = options.kafka.admin();
  await admin.connect();
  let producer: Producer | undefined;
  try {
    // As `membrane run` does: a translated record too large for its topic fails as
    // `encode.too-large` (and stays in the quarantine) instead of failing the transaction.
    const existing = new Set(await admin.listTopics());
    const outputs = [...options.pipelines.values()].flatMap((p) => p.outputTopics());
    // And the quarantine's own limit: a record that fails again is re-quarantined cut to
    // fit if its new issues make it larger than the topic takes, and no produce call sends a
    // topic more than it takes.
    const limits = await limitOutputs(
      admin,
      options.pipelines.values(),
      [...new Set([...outputs, topic])].filter((t) => existing.has(t)),
    );
    const quarantineMaxBytes = limits.get(topic);
    let settled: ReadonlyMap<string, Resolution> | undefined;
    if (!options.dryRun)
      ({ producer, settled } = await fencedProducer(options.kafka, admin, topic, 'replay'));
    const started = Date.now();
    let paced = 0;
    const records = inSourceOrder(options.records);
    // As a task drops a redelivered event whose ID it emitted: records of one batch unpacked
    // (or any two with one event ID) emit it once in a replay, as `membrane run` would have.
    const emitted = new Set<string>();
    const dedup: DedupPort = {
      seen: (id) => emitted.has(id),
      remember: (id) => {
        emitted.add(id);
      },
    };
    for (let from = 0; from < records.length; from += chunkSize) {
      const chunk = records.slice(from, from + chunkSize);
      const byTopic = new Map<string, Message[]>();
      const push = (to: string, message: Message): void => {
        const list = byTopic.get(to) ?? [];
        list.push(message);
        byTopic.set(to, list);
      };
      const resolve = (ref: string, resolution: Resolution): void => {
        push(resolutionsTopic(topic), {
          key: resolutionKey(topic, ref),
          value: JSON.stringify(resolution),
        });
      };
      const at = now().toISOString();
      const done: ReplayOutcome[] = [];
      for (const record of chunk) {
        const meanwhile = settled && resolvedMeanwhile(record, settled, topic);
        if (meanwhile) {
          done.push({ ref: record.ref, kind: 'resolved-meanwhile', resolution: meanwhile });
          continue;
        }
        if (options.rate !== undefined && options.rate > 0) {
          const due = started + (paced * 1000) / options.rate;
          if (due > Date.now()) await delay(due - Date.now());
        }
        paced += 1;
        const name = record.entry.mapping.split('@')[0] ?? '';
        const pipeline = options.pipelines.get(name);
        let outcome: ReplayOutcome;
        if (!pipeline) {
          outcome = { ref: record.ref, kind: 'skipped', reason: `no mapping named ${name}` };
        } else if (record.entry.truncated) {
          // Its bytes are not all in the quarantine: replaying the rest would emit a record
          // the producer never sent. It stays unresolved until an operator resolves it.
          outcome = {
            ref: record.ref,
            kind: 'skipped',
            reason:
              'quarantined truncated (too large for the quarantine topic): its original bytes are not in the quarantine',
          };
        } else if (record.entry.issues.some((i) => i.code === 'trust.batch-refused')) {
          // Its value is a whole batch kafkajs could not decode, not a record: run through the
          // pipeline it would be read as one record the producer never sent.
          outcome = {
            ref: record.ref,
            kind: 'skipped',
            reason:
              'a batch that could not be decoded into records (trust.batch-refused): its value is the whole batch as stored, not one record; `membrane quarantine unpack` splits it into its records, which replay then translates',
          };
        } else {
          const result = await pipeline.process(original(record), undefined, dedup);
          if (result.kind === 'pass') {
            outcome = { ref: record.ref, kind: 'replayed', outputs: result.outputs };
            for (const output of result.outputs) {
              push(output.topic, {
                key: output.key,
                value: output.value,
                headers: {
                  ...output.headers,
                  'membrane.replay.of': `${topic}/${record.ref}`,
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
            const again = encodeQuarantine(
              record.upstream,
              {
                ...record.entry,
                mapping: pipeline.ref,
                stage: result.stage,
                issues: result.issues,
                id: result.id,
                quarantinedAt: at,
                attempt: record.entry.attempt + 1,
              },
              quarantineMaxBytes,
            );
            push(topic, { key: again.key, value: again.value, headers: again.headers });
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
        let transaction: Transaction | undefined;
        try {
          transaction = await producer.transaction();
          const topicMessages = [...byTopic].map(([to, messages]) => {
            const maxBatchBytes = limits.get(to);
            return {
              topic: to,
              messages,
              ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
            };
          });
          for (const slice of sendSlices(topicMessages))
            await transaction.sendBatch({ topicMessages: slice, acks: -1 });
          await transaction.commit();
        } catch (error) {
          // The abort's own answer tells whether another replay took over: a write refused
          // mid-takeover does not always say so (the broker answered UNKNOWN_SERVER_ERROR to a
          // produce while the other replay's InitProducerId fenced this one), but an EndTxn
          // with a fenced epoch is refused as such.
          const aborted = await transaction?.abort().then(
            () => undefined,
            (abortError: unknown) => abortError,
          );
          if (isFenced(error) || isFenced(aborted))
            throw new ReplayTakenOver(topic, outcomes.length, options.records.length, error);
          throw new MembraneError(
            'quarantine.replay-failed',
            `Replaying ${topic} failed after ${outcomes.length} of the ${options.records.length} records it selected: ${messageOf(error)}`,
            {
              retriable: true,
              cause: error,
              hint: 'nothing was written twice; run it again once Kafka is reachable to continue',
            },
          );
        }
      }
      for (const outcome of done) {
        outcomes.push(outcome);
        options.onProgress?.(outcomes.length, outcome);
      }
    }
  } finally {
    await producer?.disconnect().catch(() => undefined);
    await admin.disconnect();
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
