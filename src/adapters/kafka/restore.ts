import { randomUUID } from 'node:crypto';
import {
  AssignerProtocol,
  type Admin,
  type Consumer,
  type Kafka,
  type KafkaMessage,
  type PartitionAssigner,
} from 'kafkajs';
import { MembraneError, messageOf } from '../../core/errors.js';
import type { RefusedBatch } from '../../core/records.js';

/**
 * Where a restore stands: per partition, the next offset to read (every record below it has
 * been applied, or was not there to apply: an aborted record, a transaction marker, a record
 * compaction removed). A caller that keeps the state it applied records to keeps this too,
 * and passes it back on the next attempt, which then continues from there instead of from the
 * beginning. It is only valid together with that state: a caller that drops the state must
 * drop the progress.
 */
export type RestoreProgress = Map<number, bigint>;

export interface RestoreOptions {
  /** The throwaway consumer group is named `<groupPrefix>.restore.<uuid>`. */
  readonly groupPrefix: string;
  /**
   * How long this call may take in all, in ms; when it runs out, it throws a retriable
   * `RestoreError` 'kafka.restore-timeout' carrying the progress made. No limit when absent.
   */
  readonly timeoutMs?: number;
  /**
   * Stops the restore (task revoked, shutdown): it throws a non-retriable `RestoreError`
   * 'kafka.restore-aborted' (cause: the signal's reason) within one slice of records.
   */
  readonly signal?: AbortSignal;
  /**
   * Read as where to start (partitions absent from it start at the beginning), and updated
   * in place as records are applied, so it holds the progress even when this call throws.
   */
  readonly progress?: RestoreProgress;
  /** How long `apply` may run before the event loop gets a turn, in ms (default 20). */
  readonly sliceMs?: number;
  /**
   * The most one fetch brings back per partition, in bytes (default 128 KiB; a record batch
   * larger than that still comes whole). Small fetches keep the decoded records of one fetch
   * short-lived: with 1 MiB, restoring 1,000,000 clocks took ~390 MB RSS instead of ~240 MB.
   */
  readonly maxBytesPerPartition?: number;
}

export interface RestoreResult {
  /** Records handed to `apply` by this call. */
  readonly records: number;
  readonly ms: number;
  /** The same map as `options.progress` when given: every partition at its end. */
  readonly progress: RestoreProgress;
}

/** A restore that did not reach the end, with how far it got. */
export class RestoreError extends MembraneError {
  override readonly name = 'RestoreError';
  readonly progress: ReadonlyMap<number, bigint>;

  constructor(
    code: string,
    message: string,
    progress: ReadonlyMap<number, bigint>,
    options: { retriable: boolean; cause?: unknown },
  ) {
    super(code, message, options);
    this.progress = new Map(progress);
  }
}

/**
 * Throws when `message` stands for a batch kafkajs (patched) would not decode (see
 * SourceRecord.refusedBatch): for membrane's own topics (a task's changelog, the quarantine's
 * resolutions), reading past it would silently lose what it holds — clocks starting again at
 * 1, resolved records unresolved. Non-retriable: the batch stays what it is until the limits
 * are raised.
 */
export function requireDecoded(topic: string, partition: number, message: KafkaMessage): void {
  const refused = (message as { readonly refusedBatch?: RefusedBatch }).refusedBatch;
  if (refused === undefined) return;
  throw new MembraneError(
    'kafka.batch-refused',
    `membrane will not decode the batch at offsets ${refused.firstOffset}–${refused.lastOffset} of ${topic} partition ${String(partition)} (${refused.reason}), and reading past it would lose what it holds.`,
    {
      hint: 'Raise MEMBRANE_MAX_BATCH_RECORDS or MEMBRANE_MAX_BATCH_BYTES above that batch. membrane writes its own topics uncompressed; a topic whose compression.type names a codec is recompressed by the broker — set it to producer',
    },
  );
}

/** Records `apply` may see between two looks at the clock. */
const CLOCK_EVERY = 256;
const KiB = 1024;

/**
 * Reads `partitions` of a (compacted) changelog topic up to their end, read_committed, handing
 * every record to `apply` in offset order per partition. The end is each partition's last
 * stable offset (what a read_committed reader can reach), looked up when the call starts: call
 * it after this member's transactional producer for those partitions has initialised, which
 * aborts any transaction a previous owner left open and writes its markers, so the end is then
 * the high watermark too, and nothing below it is still undecided. A partition is done once its
 * position reaches the end; the position moves past records a read_committed reader never sees
 * (transaction markers, aborted records), as the fetched batches' last offsets tell — the last
 * offsets of a transactional partition are markers, never handed to `apply`.
 *
 * Only the wanted partitions are fetched: the throwaway consumer group's one member gets
 * exactly them from its own partition assigner. kafkajs has no manual assignment; a group
 * costs a join (fast: the group is new and has one member) but uses only the public API.
 * The group is deleted again however the call ends.
 *
 * `apply` runs in slices of about `sliceMs`, with the event loop free in between (other
 * consumers' heartbeats, HTTP health). It is never handed a record below `progress`.
 */
export async function restorePartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  apply: (partition: number, message: KafkaMessage) => void,
  options: RestoreOptions = { groupPrefix: 'membrane' },
): Promise<RestoreResult> {
  const started = Date.now();
  const progress: RestoreProgress = options.progress ?? new Map<number, bigint>();
  const wanted = [...new Set(partitions)].sort((a, b) => a - b);
  const sliceMs = options.sliceMs ?? 20;
  let records = 0;

  // One way to stop, whatever the reason: abort, timeout, a crashed consumer, a failed apply.
  // The error is made once everything has stopped, so the progress it carries is final.
  let stopped: (() => Error) | undefined;
  const STOPPED = new Error('restore stopped');
  let onStop: (error: Error) => void = () => undefined;
  const stopping = new Promise<never>((_resolve, reject) => {
    onStop = reject;
  });
  stopping.catch(() => undefined);
  const stop = (reason: () => Error): void => {
    if (stopped) return;
    stopped = reason;
    onStop(STOPPED);
  };
  const isStopped = (): boolean => stopped !== undefined;
  const describe = (): string =>
    wanted.map((p) => `${p}@${String(progress.get(p) ?? 0n)}`).join(', ');
  const onAbort = (): void => {
    stop(
      () =>
        new RestoreError(
          'kafka.restore-aborted',
          `Restoring ${topic} was stopped (partitions at ${describe()}).`,
          progress,
          { retriable: false, cause: options.signal?.reason },
        ),
    );
  };
  let timer: NodeJS.Timeout | undefined;
  if (options.signal?.aborted) onAbort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.timeoutMs !== undefined) {
    const timeoutMs = options.timeoutMs;
    timer = setTimeout(() => {
      stop(
        () =>
          new RestoreError(
            'kafka.restore-timeout',
            `Restoring ${topic} took longer than ${timeoutMs} ms (partitions at ${describe()}); a retry continues from there.`,
            progress,
            { retriable: true },
          ),
      );
    }, timeoutMs);
  }
  /** Waits for `promise`, or throws as soon as the restore is stopped. */
  const until = <T>(promise: Promise<T>): Promise<T> => {
    if (stopped) {
      promise.catch(() => undefined);
      return Promise.reject(STOPPED);
    }
    return Promise.race([promise, stopping]);
  };

  const admin = kafka.admin();
  const groupId = `${options.groupPrefix}.restore.${randomUUID()}`;
  let consumer: Consumer | undefined;
  let failure: Error | undefined;
  try {
    await until(admin.connect());
    const offsets = await until(admin.fetchTopicOffsets(topic));
    const end = new Map<number, bigint>();
    for (const p of wanted) {
      const o = offsets.find((x) => x.partition === p);
      if (!o) {
        throw new MembraneError(
          'kafka.restore-partition-missing',
          `${topic} has no partition ${p}.`,
          { hint: 'the changelog has fewer partitions than the inputs; recreate it' },
        );
      }
      end.set(p, BigInt(o.high));
      // A position below the log start (records deleted) moves up to it: nothing is there.
      const low = BigInt(o.low);
      if ((progress.get(p) ?? 0n) < low) progress.set(p, low);
    }
    const pending = new Set(wanted.filter((p) => (progress.get(p) ?? 0n) < (end.get(p) ?? 0n)));
    if (pending.size === 0) return { records, ms: Date.now() - started, progress };

    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const advance = (partition: number, next: bigint): void => {
      if (next > (progress.get(partition) ?? 0n)) progress.set(partition, next);
      if ((progress.get(partition) ?? 0n) >= (end.get(partition) ?? 0n)) {
        pending.delete(partition);
        if (pending.size === 0) finish();
      }
    };

    const perPartition = options.maxBytesPerPartition ?? 128 * KiB;
    const restoring = kafka.consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: perPartition,
      maxBytes: perPartition * Math.min(pending.size, 8),
      allowAutoTopicCreation: false,
      partitionAssigners: [onlyAssigner(topic, [...pending])],
      // A crash ends the call (progress kept), rather than kafkajs restarting from the
      // group's (never committed) offsets.
      retry: { retries: 5, restartOnFailure: () => Promise.resolve(false) },
    });
    consumer = restoring;
    restoring.on(restoring.events.CRASH, ({ payload }) => {
      stop(
        () =>
          new RestoreError(
            'kafka.restore-failed',
            `Restoring ${topic} failed (partitions at ${describe()}): ${messageOf(payload.error)}`,
            progress,
            { retriable: true, cause: payload.error },
          ),
      );
    });
    // On every (re)join, before the first fetch: start each partition at its progress.
    restoring.on(restoring.events.GROUP_JOIN, () => {
      for (const p of pending)
        restoring.seek({ topic, partition: p, offset: String(progress.get(p) ?? 0n) });
    });
    // Fetches that hold no visible record (only markers, aborted or compacted-away records)
    // never reach eachBatch; their last offset still moves the position on.
    restoring.on(restoring.events.END_BATCH_PROCESS, ({ payload }) => {
      if (stopped || payload.batchSize !== 0 || !pending.has(payload.partition)) return;
      advance(payload.partition, BigInt(payload.lastOffset) + 1n);
    });

    await until(restoring.connect());
    await until(restoring.subscribe({ topics: [topic], fromBeginning: true }));
    await until(
      restoring.run({
        autoCommit: false,
        eachBatchAutoResolve: true,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const partition = batch.partition;
          if (stopped || !pending.has(partition)) return;
          const messages = batch.messages;
          const from = progress.get(partition) ?? 0n;
          // Never below the position (a fetch that raced a seek): skip what is before it.
          let i = 0;
          const first = messages[0];
          if (first !== undefined && BigInt(first.offset) < from)
            while (i < messages.length && BigInt(messages[i]?.offset ?? '0') < from) i++;
          let sliceStarted = Date.now();
          let applied: KafkaMessage | undefined;
          try {
            for (; i < messages.length; i++) {
              const message = messages[i] as KafkaMessage;
              apply(partition, message);
              applied = message;
              records++;
              if (i % CLOCK_EVERY === CLOCK_EVERY - 1 && Date.now() - sliceStarted >= sliceMs) {
                progress.set(partition, BigInt(message.offset) + 1n);
                await new Promise<void>((resolve) => setImmediate(resolve));
                if (isStopped()) return;
                await payload.heartbeat().catch(() => undefined);
                if (isStopped()) return;
                sliceStarted = Date.now();
              }
            }
          } catch (error) {
            if (applied) progress.set(partition, BigInt(applied.offset) + 1n);
            stop(() => (error instanceof Error ? error : new Error(messageOf(error))));
            return;
          }
          advance(partition, BigInt(batch.lastOffset()) + 1n);
        },
      }),
    );
    await until(finished);
  } catch (error) {
    failure = error instanceof Error ? error : new Error(messageOf(error));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    if (consumer) await consumer.disconnect().catch(() => undefined);
    if (consumer) await deleteGroup(admin, groupId);
    await admin.disconnect().catch(() => undefined);
  }
  if (failure === undefined) return { records, ms: Date.now() - started, progress };
  throw failure === STOPPED && stopped ? stopped() : failure;
}

/** Deletes the throwaway group; retries while its member's leave is still settling. */
async function deleteGroup(admin: Admin, groupId: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await admin.deleteGroups([groupId]);
      return;
    } catch (error) {
      const types = groupErrorTypes(error);
      if (types.every((type) => type === 'GROUP_ID_NOT_FOUND')) return;
      await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** attempt));
    }
  }
}

function groupErrorTypes(error: unknown): string[] {
  const groups =
    error !== null && typeof error === 'object' && 'groups' in error && Array.isArray(error.groups)
      ? (error.groups as { error?: { type?: unknown } }[])
      : [];
  const types = groups.map((g) => (typeof g.error?.type === 'string' ? g.error.type : 'UNKNOWN'));
  return types.length > 0 ? types : ['UNKNOWN'];
}

/** A partition assigner that gives exactly `partitions` of `topic` to the group's one member. */
function onlyAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  const name = 'MembraneRestoreAssigner';
  return () => ({
    name,
    version: 1,
    assign({ members }) {
      const [first, ...others] = members.map((m) => m.memberId).sort();
      const assignments = first === undefined ? [] : [{ id: first, partitions }];
      for (const id of others) assignments.push({ id, partitions: [] });
      return Promise.resolve(
        assignments.map(({ id, partitions: assigned }) => ({
          memberId: id,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 1,
            assignment: assigned.length > 0 ? { [topic]: [...assigned] } : {},
            userData: Buffer.alloc(0),
          }),
        })),
      );
    },
    protocol({ topics }) {
      return {
        name,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: Buffer.alloc(0),
        }),
      };
    },
  });
}
