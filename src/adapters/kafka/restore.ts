import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { MembraneError } from '../../core/errors.js';

/**
 * Reads partitions of a (compacted) changelog topic from the beginning up to their end,
 * read_committed, handing every record to `apply`. Ends when each wanted partition's fetch
 * position reaches its end — measured as kafkajs does, by the batch's offset lag, which also
 * counts the transaction markers a read_committed reader never sees.
 *
 * Call it after this member's transactional producer for those partitions has initialised:
 * that aborts any transaction a previous owner left open, so the end is stable.
 */
export async function restorePartitions(
  kafka: Kafka,
  topic: string,
  partitions: readonly number[],
  apply: (partition: number, message: KafkaMessage) => void,
  options: { readonly groupPrefix: string; readonly timeoutMs?: number } = {
    groupPrefix: 'membrane',
  },
): Promise<{ readonly records: number; readonly ms: number }> {
  const started = Date.now();
  const admin = kafka.admin();
  await admin.connect();
  const groupId = `${options.groupPrefix}.restore.${randomUUID()}`;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    const pending = new Set(
      partitions.filter((p) => {
        const o = offsets.find((x) => x.partition === p);
        return o !== undefined && o.high !== o.low;
      }),
    );
    let records = 0;
    if (pending.size === 0) return { records, ms: Date.now() - started };
    const wanted = new Set(partitions);
    const consumer = kafka.consumer({
      groupId,
      readUncommitted: false,
      maxWaitTimeInMs: 100,
      maxBytesPerPartition: 4 * 1024 * 1024,
    });
    let finish: () => void = () => undefined;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (wanted.has(payload.partition) && payload.offsetLag === '0') {
        pending.delete(payload.partition);
        if (pending.size === 0) finish();
      }
    });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatch: ({ batch }) => {
          if (!wanted.has(batch.partition)) return Promise.resolve();
          for (const message of batch.messages) apply(batch.partition, message);
          records += batch.messages.length;
          return Promise.resolve();
        },
      });
      const timeoutMs = options.timeoutMs ?? 120_000;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        finished.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => {
            resolve(true);
          }, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) {
        throw new MembraneError(
          'kafka.restore-timeout',
          `Restoring ${topic} partitions ${[...pending].join(', ')} took longer than ${timeoutMs / 1000} s.`,
          {
            retriable: true,
          },
        );
      }
    } finally {
      await consumer.disconnect();
    }
    return { records, ms: Date.now() - started };
  } finally {
    await admin.deleteGroups([groupId]).catch(() => undefined);
    await admin.disconnect();
  }
}
