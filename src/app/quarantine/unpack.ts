import type { Kafka, Message, Producer, Transaction } from 'kafkajs';
import { decodingLimits } from '../../adapters/kafka/codecs.js';
import { decodeStoredBatch, type BatchRecord } from '../../adapters/kafka/record-batch.js';
import { sendSlices } from '../../adapters/kafka/send-slices.js';
import {
  encodeQuarantine,
  quarantineBytes,
  type QuarantineEntry,
  type QuarantineMessage,
} from '../../adapters/quarantine/codec.js';
import { MembraneError, messageOf } from '../../core/errors.js';
import { issue } from '../../core/issues.js';
import { limitOutputs } from '../runtime/bootstrap.js';
import { fencedProducer, isFenced, resolvedMeanwhile } from './replay.js';
import {
  resolutionKey,
  resolutionsTopic,
  type QuarantinedRecord,
  type Resolution,
} from './store.js';

export type UnpackOutcome =
  | {
      readonly ref: string;
      readonly kind: 'unpacked';
      /** How many quarantine records it became (its records from `from` on). */
      readonly records: number;
      /** The first and last offset of the records it became; absent when none. */
      readonly from?: string;
      readonly to?: string;
    }
  | { readonly ref: string; readonly kind: 'undecodable'; readonly reason: string }
  | { readonly ref: string; readonly kind: 'skipped'; readonly reason: string }
  | { readonly ref: string; readonly kind: 'resolved-meanwhile'; readonly resolution: Resolution };

export interface UnpackOptions {
  readonly kafka: Kafka;
  readonly quarantineTopic: string;
  readonly records: readonly QuarantinedRecord[];
  /** Decode and count; write nothing. */
  readonly dryRun: boolean;
  readonly now?: () => Date;
  readonly onProgress?: (done: number, outcome: UnpackOutcome) => void;
}

/** Whether a quarantine record holds a whole batch that could not be decoded into records. */
export function isRefusedBatch(record: QuarantinedRecord): boolean {
  return record.entry.issues[0]?.code === 'trust.batch-refused';
}

/** Why a refused batch cannot be unpacked as it is stored, or undefined when it can. */
function unpackable(record: QuarantinedRecord): string | undefined {
  if (!isRefusedBatch(record)) return `not a refused batch (${record.entry.issues[0]?.code})`;
  if (record.entry.truncated)
    return 'quarantined truncated (too large for the quarantine topic): the batch is not whole';
  if (!record.entry.batch)
    return 'it has no membrane.quarantine.batch header (written by an older membrane): which of its records were processed is not recorded';
  return undefined;
}

/**
 * The quarantine records a refused batch becomes: one per record from the batch's first
 * unprocessed offset on (all of them unless the group's position was inside the batch), each
 * as if quarantined on its own — its key, value and headers as the producer sent them, its own
 * offset and timestamp (so a replay gives it the IDs membrane would have), the mapping that
 * refused the batch — with the code trust.batch-unpacked, for `quarantine replay`.
 */
export function unpackedEntries(
  record: QuarantinedRecord,
  records: readonly BatchRecord[],
  at: string,
): { upstream: BatchRecord; entry: QuarantineEntry }[] {
  const batch = record.entry.batch;
  if (!batch) return [];
  const from = BigInt(batch.from ?? batch.firstOffset);
  const last = BigInt(batch.lastOffset);
  return records
    .filter((r) => BigInt(r.offset) >= from && BigInt(r.offset) <= last)
    .map((upstream) => ({
      upstream,
      entry: {
        source: {
          topic: record.entry.source.topic,
          partition: record.entry.source.partition,
          offset: upstream.offset,
          timestamp: upstream.timestamp,
        },
        mapping: record.entry.mapping,
        stage: 'trust',
        issues: [
          issue(
            'trust.batch-unpacked',
            '',
            `unpacked from the batch at offsets ${batch.firstOffset}–${batch.lastOffset} (quarantine record ${record.ref}, trust.batch-refused); not run through the mapping yet: replay it`,
          ),
        ],
        id: undefined,
        quarantinedAt: at,
        attempt: record.entry.attempt,
      },
    }));
}

/**
 * Unpacks refused batches into their records: for each, one transaction holds a quarantine
 * record per record of the batch not processed before (see unpackedEntries) and the batch's
 * resolution marker (superseded, by unpack), so a batch is unpacked whole or not at all, and
 * once. Decoding uses the limits in force (limitDecoding): a batch refused for its size needs
 * them raised; one whose bytes cannot be decoded stays unresolved (`undecodable`).
 *
 * It shares replay's transactional ID, and reads the resolutions only after initialising it,
 * so an unpack and a replay (or two unpacks) of one quarantine fence each other and neither
 * acts on what the other committed.
 */
export async function unpack(options: UnpackOptions): Promise<UnpackOutcome[]> {
  const now = options.now ?? (() => new Date());
  const topic = options.quarantineTopic;
  const outcomes: UnpackOutcome[] = [];
  const done = (outcome: UnpackOutcome): void => {
    outcomes.push(outcome);
    options.onProgress?.(outcomes.length, outcome);
  };
  const admin = options.kafka.admin();
  await admin.connect();
  let producer: Producer | undefined;
  try {
    // What one quarantine record may take, for a dry run too: it reports what would fail.
    const quarantineMaxBytes = (await admin.listTopics()).includes(topic)
      ? (await limitOutputs(admin, [], [topic])).get(topic)
      : undefined;
    let settled: ReadonlyMap<string, Resolution> | undefined;
    if (!options.dryRun)
      ({ producer, settled } = await fencedProducer(options.kafka, admin, topic, 'unpack'));
    for (const record of options.records) {
      const meanwhile = settled && resolvedMeanwhile(record, settled, topic);
      if (meanwhile) {
        done({ ref: record.ref, kind: 'resolved-meanwhile', resolution: meanwhile });
        continue;
      }
      const why = unpackable(record);
      if (why !== undefined) {
        done({ ref: record.ref, kind: 'skipped', reason: why });
        continue;
      }
      const decoded = await decodeStoredBatch(record.upstream.value ?? Buffer.alloc(0));
      if (decoded.kind === 'refused') {
        done({ ref: record.ref, kind: 'undecodable', reason: decoded.reason });
        continue;
      }
      const { batch } = record.entry;
      if (
        batch?.firstOffset !== decoded.firstOffset ||
        batch.lastOffset !== decoded.lastOffset ||
        record.entry.source.offset !== decoded.lastOffset
      ) {
        // The topic is writable by others: a header that does not describe the value would
        // make records vanish (left out as outside the batch) or appear at the wrong offsets.
        done({
          ref: record.ref,
          kind: 'skipped',
          reason: `its membrane.quarantine.batch header (${batch?.firstOffset}–${batch?.lastOffset}, source offset ${record.entry.source.offset}) does not describe the batch it holds (offsets ${decoded.firstOffset}–${decoded.lastOffset})`,
        });
        continue;
      }
      const at = now().toISOString();
      const entries = unpackedEntries(record, decoded.records, at);
      // Each record must be whole, and fit the quarantine topic so: one cut could not be
      // replayed, and the batch, its only whole copy, would be resolved.
      const whole = wholeMessages(entries, quarantineMaxBytes);
      if ('reason' in whole) {
        done({ ref: record.ref, kind: 'skipped', reason: whole.reason });
        continue;
      }
      const { messages } = whole;
      const outcome: UnpackOutcome = {
        ref: record.ref,
        kind: 'unpacked',
        records: entries.length,
        ...(entries.length === 0
          ? {}
          : { from: entries[0]?.entry.source.offset, to: entries.at(-1)?.entry.source.offset }),
      };
      if (producer) {
        const marker: Message = {
          key: resolutionKey(topic, record.ref),
          value: JSON.stringify({
            status: 'superseded',
            by: 'unpack',
            at,
            reason:
              entries.length === 0
                ? 'unpacked: none of its records was left unprocessed'
                : `unpacked into ${entries.length} quarantine record(s), offsets ${outcome.from}–${outcome.to}, trust.batch-unpacked`,
          } satisfies Resolution),
        };
        await commit(
          producer,
          topic,
          messages,
          marker,
          quarantineMaxBytes,
          outcomes.length,
          options,
        );
      }
      done(outcome);
    }
  } finally {
    await producer?.disconnect().catch(() => undefined);
    await admin.disconnect();
  }
  return outcomes;
}

/** How many header values a record carries (a name repeated counts each time). */
function headerCount(headers: BatchRecord['headers']): number {
  let n = 0;
  for (const name in headers) {
    const value = headers[name];
    n += Array.isArray(value) ? value.length : value === undefined ? 0 : 1;
  }
  return n;
}

/**
 * The quarantine records of a batch's records, each whole — or why they would not be: a
 * record with more headers than the decoder keeps (it keeps `maxHeaders` + 1 and skips the
 * rest unread), or one too large for the quarantine topic with membrane's headers.
 */
function wholeMessages(
  entries: readonly { upstream: BatchRecord; entry: QuarantineEntry }[],
  quarantineMaxBytes: number | undefined,
): { messages: QuarantineMessage[] } | { reason: string } {
  const { maxHeaders } = decodingLimits();
  const messages: QuarantineMessage[] = [];
  for (const { upstream, entry } of entries) {
    if (headerCount(upstream.headers) > maxHeaders)
      return {
        reason: `its record at offset ${entry.source.offset} has more than ${maxHeaders} headers, the most decoding keeps (--max-headers, MEMBRANE_MAX_HEADERS): raise that, then unpack it again`,
      };
    const message = encodeQuarantine(upstream, entry);
    const bytes = quarantineBytes(message);
    if (quarantineMaxBytes !== undefined && bytes > quarantineMaxBytes)
      return {
        reason: `its record at offset ${entry.source.offset} takes ${bytes} bytes as a quarantine record, more than the quarantine topic takes (max.message.bytes ${quarantineMaxBytes}): raise that, then unpack it again`,
      };
    messages.push(message);
  }
  return { messages };
}

/** One batch's quarantine records and its marker, in one transaction. */
async function commit(
  producer: Producer,
  topic: string,
  messages: readonly QuarantineMessage[],
  marker: Message,
  quarantineMaxBytes: number | undefined,
  before: number,
  options: UnpackOptions,
): Promise<void> {
  let transaction: Transaction | undefined;
  try {
    transaction = await producer.transaction();
    const topicMessages = [
      {
        topic,
        messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        ...(quarantineMaxBytes === undefined ? {} : { maxBatchBytes: quarantineMaxBytes }),
      },
      { topic: resolutionsTopic(topic), messages: [marker] },
    ];
    for (const slice of sendSlices(topicMessages))
      await transaction.sendBatch({ topicMessages: slice, acks: -1 });
    await transaction.commit();
  } catch (error) {
    const aborted = await transaction?.abort().then(
      () => undefined,
      (abortError: unknown) => abortError,
    );
    const fenced = isFenced(error) || isFenced(aborted);
    throw new MembraneError(
      fenced ? 'quarantine.replay-taken-over' : 'quarantine.unpack-failed',
      fenced
        ? `Another \`membrane quarantine replay\` or \`unpack\` of ${topic} took over, so this unpack stopped after ${before} of the ${options.records.length} records it selected; every batch is unpacked whole or not at all, and running it again unpacks what is still unresolved.`
        : `Unpacking ${topic} failed after ${before} of the ${options.records.length} records it selected: ${messageOf(error)}`,
      {
        retriable: true,
        cause: error,
        hint: 'nothing was written twice; run it again (once Kafka is reachable) to continue',
      },
    );
  }
}
