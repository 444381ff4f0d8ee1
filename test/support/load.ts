import type { Kafka, Message, Producer } from 'kafkajs';
import { setTimeout as delay } from 'node:timers/promises';

/** A steady upstream producer a scenario can leave running while it injects faults. */
export interface Load {
  /** Records the broker acknowledged so far. */
  acknowledged(): number;
  /** Stops producing; resolves with the number of records acknowledged. */
  stop(): Promise<number>;
}

/**
 * Sends `batch` records every `intervalMs` to `topic`. Record numbers are never reused: a
 * send that fails (the broker is down) is not repeated with the same records, so an
 * ambiguous failure can never put one upstream event on the topic twice.
 *
 * A failed send also retires its producer, for a new one (a new producer ID). Its fate is
 * unknown: a broker killed after appending a batch but before answering has the batch, and
 * the producer, never told, would send its next, different records under the same sequence
 * numbers — refused for ever with OutOfOrderSequenceException when they are fewer or more,
 * or acknowledged without being written (taken for a retry of the stored batch) when they
 * are as many. kafkajs does not reset its sequences after such a failure; a new producer ID
 * starts them again.
 */
export function startLoad(
  kafka: Kafka,
  topic: string,
  messages: (from: number, count: number) => Message[] | Promise<Message[]>,
  options: { readonly batch?: number; readonly intervalMs?: number } = {},
): Load {
  const batch = options.batch ?? 10;
  const intervalMs = options.intervalMs ?? 50;
  const newProducer = (): Producer =>
    kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  const state = { running: true };
  let acknowledged = 0;
  let next = 0;
  const loop = (async () => {
    let producer = await connected(newProducer());
    while (producer && state.running) {
      const from = next;
      next += batch;
      try {
        await producer.send({ topic, messages: await messages(from, batch) });
        acknowledged += batch;
      } catch {
        // The broker is away; the pacing below is the retry interval.
        await producer.disconnect().catch(() => undefined);
        producer = await connected(newProducer());
      }
      await delay(intervalMs);
    }
    await producer?.disconnect().catch(() => undefined);
  })();
  /** The producer once connected, or undefined when the load was stopped first. */
  async function connected(producer: Producer): Promise<Producer | undefined> {
    while (state.running) {
      try {
        await producer.connect();
        return producer;
      } catch {
        await delay(intervalMs);
      }
    }
    await producer.disconnect().catch(() => undefined);
    return undefined;
  }
  return {
    acknowledged: () => acknowledged,
    stop: async () => {
      state.running = false;
      await loop;
      return acknowledged;
    },
  };
}
