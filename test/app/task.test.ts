import type { KafkaMessage, Producer } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/app/logger.js';
import { Metrics } from '../../src/app/metrics.js';
import { Task } from '../../src/app/task.js';
import { BASE_MAPPING, compileText } from '../support/mappings.js';

const messages = (from: number, to: number): KafkaMessage[] =>
  Array.from({ length: to - from }, (_, i) => ({
    key: null,
    value: null,
    headers: {},
    offset: String(from + i),
    timestamp: '0',
    attributes: 0,
  }));

describe('a task', () => {
  it('skips the leading records already committed when the consumer fetched them again', async () => {
    const task = new Task(
      await compileText(BASE_MAPPING),
      0,
      {
        groupId: 'g',
        quarantineTopic: 'q',
        guarantee: 'exactly_once',
        metrics: new Metrics(),
        logger: createLogger('silent'),
        now: () => new Date(),
        dedupWindow: 10,
        commitOffsets: () => Promise.resolve(),
      },
      (): Producer => {
        throw new Error('no producer in this test');
      },
    );
    expect(task.alreadyCommitted('in', messages(3, 9))).toBe(0); // nothing known: keep all
    task.resumeFrom('in', '5');
    expect(task.alreadyCommitted('in', messages(0, 4))).toBe(4);
    expect(task.alreadyCommitted('in', messages(3, 9))).toBe(2);
    expect(task.alreadyCommitted('in', messages(5, 9))).toBe(0);
    expect(task.alreadyCommitted('other', messages(3, 9))).toBe(0);
    // It only moves forward: an older committed offset (or none, -1) changes nothing.
    task.resumeFrom('in', '2');
    task.resumeFrom('in', '-1');
    expect(task.alreadyCommitted('in', messages(3, 9))).toBe(2);
  });
});
