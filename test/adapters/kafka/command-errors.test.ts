/**
 * commandKafkaError: what a command reports for what kafkajs threw after the first
 * connection (status, the quarantine commands, doctor, dev).
 */
import { KafkaJSConnectionError, KafkaJSProtocolError } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { commandKafkaError, withKafkaErrors } from '../../../src/adapters/kafka/errors.js';
import { MembraneError } from '../../../src/core/errors.js';

const protocol = (type: string, code: number): KafkaJSProtocolError =>
  new KafkaJSProtocolError(
    Object.assign(new Error(`refused: ${type}`), { type, code, retriable: false }),
  );

describe('commandKafkaError', () => {
  it('an ACL refusal is kafka.authorization, one sentence', () => {
    const error = commandKafkaError(protocol('TOPIC_AUTHORIZATION_FAILED', 29));
    expect(error).toBeInstanceOf(MembraneError);
    expect(error).toMatchObject({ code: 'kafka.authorization', retriable: false });
    expect((error as Error).message).not.toMatch(/\n/);
  });

  it('a lost connection is kafka.unreachable, on one line', () => {
    const error = commandKafkaError(
      new KafkaJSConnectionError('Connection error: read ECONNRESET\nmore', {
        broker: '127.0.0.1:9092',
      }),
    );
    expect(error).toMatchObject({ code: 'kafka.unreachable', retriable: true });
    expect((error as Error).message).not.toMatch(/\n/);
  });

  it('leaves membrane errors and bugs (not Kafka errors) as they are', () => {
    const own = new MembraneError('config.invalid', 'x.');
    const bug = new TypeError('x is undefined');
    expect(commandKafkaError(own)).toBe(own);
    expect(commandKafkaError(bug)).toBe(bug);
  });

  it('withKafkaErrors translates what the work throws', async () => {
    await expect(
      withKafkaErrors(() => Promise.reject(protocol('GROUP_AUTHORIZATION_FAILED', 30))),
    ).rejects.toMatchObject({ code: 'kafka.authorization' });
    await expect(withKafkaErrors(() => Promise.resolve(3))).resolves.toBe(3);
  });
});
