import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * membrane patches kafkajs's `Runner.commitOffsets` (patches/kafkajs+2.2.4.patch): its
 * retries commit under the generation the call began in. Unpatched, each retry asked the
 * consumer group for its offset manager again — after a rejoin, the new generation's — and the
 * coordinator accepts offsets from any member of the current generation, whoever owns the
 * partition now: an at-least-once commit of a revoked partition, retried after a transient
 * error, could move the new owner's committed offset back.
 */
const require = createRequire(import.meta.url);

interface OffsetManagerLike {
  readonly generationId: number;
  commitOffsets(offsets: unknown): Promise<void>;
}
interface RunnerInstance {
  running: boolean;
  commitOffsets(offsets: unknown): Promise<void>;
}
type RunnerClass = new (options: Record<string, unknown>) => RunnerInstance;

const Runner = require('kafkajs/src/consumer/runner.js') as RunnerClass;
const { KafkaJSError } = require('kafkajs/src/errors.js') as {
  KafkaJSError: new (message: string, options?: { retriable?: boolean }) => Error;
};

const quietLogger = {
  namespace: () => quietLogger,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

describe("kafkajs's commitOffsets, patched", () => {
  it('retries in the generation it began in, never in the one a rejoin brought meanwhile', async () => {
    const attempts: number[] = [];
    const eight: OffsetManagerLike = {
      generationId: 8,
      commitOffsets() {
        attempts.push(8);
        return Promise.resolve();
      },
    };
    const group: { offsetManager: OffsetManagerLike } = {
      offsetManager: {
        generationId: 7,
        commitOffsets() {
          attempts.push(7);
          if (attempts.length === 1) {
            // A retriable failure (a request timeout, a coordinator moving), and meanwhile
            // the member rejoins: generation 8, the partition now someone else's.
            group.offsetManager = eight;
            return Promise.reject(new KafkaJSError('The request timed out', { retriable: true }));
          }
          // What the coordinator answers a stale generation.
          return Promise.reject(
            new KafkaJSError('The provided group generation id is not valid', {
              retriable: false,
            }),
          );
        },
      },
    };
    const runner = new Runner({
      logger: quietLogger,
      consumerGroup: group,
      instrumentationEmitter: { emit: () => undefined },
      onCrash: () => undefined,
      retry: { initialRetryTime: 1, retries: 3 },
    });
    runner.running = true;
    const offsets = { topics: [{ topic: 't', partitions: [{ partition: 0, offset: '5' }] }] };
    await expect(runner.commitOffsets(offsets)).rejects.toThrow(/generation id is not valid/);
    // Retried, in generation 7 both times: generation 8 never committed these offsets.
    expect(attempts).toEqual([7, 7]);
  });
});
