import type { Kafka, Message } from 'kafkajs';
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
 */
export function startLoad(
  kafka: Kafka,
  topic: string,
  messages: (from: number, count: number) => Message[] | Promise<Message[]>,
  options: { readonly batch?: number; readonly intervalMs?: number } = {},
): Load {
  const batch = options.batch ?? 10;
  const intervalMs = options.intervalMs ?? 50;
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const state = { running: true };
  let acknowledged = 0;
  let next = 0;
  const loop = (async () => {
    await connect();
    while (state.running) {
      const from = next;
      next += batch;
      try {
        await producer.send({ topic, messages: await messages(from, batch) });
        acknowledged += batch;
      } catch {
        // The broker is away; the pacing below is the retry interval.
      }
      await delay(intervalMs);
    }
    await producer.disconnect().catch(() => undefined);
  })();
  async function connect(): Promise<void> {
    for (;;) {
      try {
        await producer.connect();
        return;
      } catch {
        await delay(intervalMs);
      }
    }
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
