import type { KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { BASE_MAPPING, compileText } from '../support/mappings.js';
import { noProducer, testTask } from '../support/tasks.js';

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
    const task = testTask(await compileText(BASE_MAPPING), noProducer);
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
