import { describe, it } from 'vitest';
import { createTopics } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';

const N = 10;

/**
 * MEMBRANE_CREATE_TOPICS=false: the operator created every topic membrane writes to, and
 * membrane must find them. (A review found it refusing to start, "Output topics … do not
 * exist": the existence check had been narrowed to the inputs.)
 */
describe('membrane run with MEMBRANE_CREATE_TOPICS=false and every topic created beforehand', () => {
  const ctx = useOrderTopics(2);

  it('starts, translates and stops cleanly', async () => {
    const topics = ctx.topics();
    await createTopics(
      ctx.admin(),
      [topics.placed, topics.cancelled, topics.quarantine].map((topic) => ({
        topic,
        numPartitions: 2,
      })),
    );
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();

    const membrane = spawnCli(
      ['run'],
      ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn', MEMBRANE_CREATE_TOPICS: 'false' }),
    );
    await catchUpAndStop(
      membrane,
      committedOf(() => ctx.admin(), topics.group, topics.input),
      N,
    );
  });
});
