import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { classifyKafkaError, fatalKafkaError } from '../../../src/adapters/kafka/errors.js';

/**
 * membrane patches kafkajs's AddPartitionsToTxn answer (patches/kafkajs+2.2.4.patch). A broker
 * that refuses one topic of a transaction (TOPIC_AUTHORIZATION_FAILED, 29) answers
 * OPERATION_NOT_ATTEMPTED (55) for every other one, in the order of its own map; kafkajs threw
 * the first partition error, so when another topic came first membrane saw only 55, read it
 * as transient and retried the chunk for ever instead of stopping with exit 77 (found by a
 * review: no WRITE on the quarantine or the state topic).
 */
const require = createRequire(import.meta.url);
const { parse } = require('kafkajs/src/protocol/requests/addPartitionsToTxn/v0/response.js') as {
  parse: (data: unknown) => Promise<unknown>;
};

const rejection = (answer: unknown): Promise<unknown> =>
  parse(answer).then(
    () => undefined,
    (error: unknown) => error,
  );

describe("kafkajs's AddPartitionsToTxn answer, patched", () => {
  it('throws the refusal, with its topic, whichever topic the broker lists first', async () => {
    const refused = {
      topic: 'membrane.quarantine',
      partitionErrors: [{ partition: 0, errorCode: 29 }],
    };
    const notAttempted = {
      topic: 'sales.order-placed',
      partitionErrors: [{ partition: 0, errorCode: 55 }],
    };
    for (const errors of [
      [notAttempted, refused],
      [refused, notAttempted],
    ]) {
      const thrown = await rejection({ throttleTime: 0, errors });
      expect((thrown as { type?: string }).type).toBe('TOPIC_AUTHORIZATION_FAILED');
      const classified = classifyKafkaError(thrown);
      expect(classified.kind).toBe('fatal');
      const error = fatalKafkaError(classified, thrown);
      expect(error.code).toBe('kafka.authorization');
      expect(error.message).toContain('membrane.quarantine');
    }
  });

  it('still throws OPERATION_NOT_ATTEMPTED when nothing else is there, and nothing when all is well', async () => {
    const thrown = await rejection({
      throttleTime: 0,
      errors: [{ topic: 't', partitionErrors: [{ partition: 0, errorCode: 55 }] }],
    });
    expect((thrown as { type?: string }).type).toBe('OPERATION_NOT_ATTEMPTED');
    const fine = {
      throttleTime: 0,
      errors: [{ topic: 't', partitionErrors: [{ partition: 0, errorCode: 0 }] }],
    };
    await expect(parse(fine)).resolves.toEqual(fine);
  });
});
