import { Writable } from 'node:stream';
import { logLevel } from 'kafkajs';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { pinoLogCreator } from '../../../src/adapters/kafka/client.js';

function capture(): {
  lines: () => { level: number; msg: string }[];
  log: ReturnType<typeof pinoLogCreator>;
} {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ level: 'debug' }, stream);
  return {
    log: pinoLogCreator(logger),
    lines: () => out.map((line) => JSON.parse(line) as { level: number; msg: string }),
  };
}

describe('kafkajs logs through pino', () => {
  const entry = (namespace: string, level: logLevel, message: string) => ({
    namespace,
    level,
    label: 'ERROR',
    log: { timestamp: '', logger: 'kafkajs', message },
  });

  it('keeps a broker error answer to one request, which the caller retries, at debug', () => {
    const { log, lines } = capture();
    const write = log(logLevel.ERROR);
    write(entry('Connection', logLevel.ERROR, 'Response AddPartitionsToTxn(key: 24, version: 1)'));
    expect(lines()).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'Response AddPartitionsToTxn(key: 24, version: 1)',
      }),
    ]);
  });

  it('keeps a failed attempt that kafkajs is about to retry at debug', () => {
    const { log, lines } = capture();
    log(logLevel.ERROR)({
      namespace: 'Producer',
      level: logLevel.ERROR,
      label: 'ERROR',
      log: {
        timestamp: '',
        logger: 'kafkajs',
        message: 'Failed to send messages: The producer attempted to update a transaction',
        retryCount: 0,
        retryTime: 17,
      },
    });
    expect(lines().map((l) => l.level)).toEqual([20]);
  });

  it('keeps every other error, warning and info at its level', () => {
    const { log, lines } = capture();
    const write = log(logLevel.ERROR);
    write(entry('Connection', logLevel.ERROR, 'Connection error: connect ECONNREFUSED'));
    const crash = entry('Consumer', logLevel.ERROR, 'Crash: KafkaJSNumberOfRetriesExceeded');
    write({ ...crash, log: { ...crash.log, retryCount: 5 } });
    write(entry('Consumer', logLevel.WARN, 'rebalancing'));
    write(entry('Producer', logLevel.INFO, 'connected'));
    expect(lines().map((l) => [l.level, l.msg])).toEqual([
      [50, 'Connection error: connect ECONNREFUSED'],
      [50, 'Crash: KafkaJSNumberOfRetriesExceeded'],
      [40, 'rebalancing'],
      [30, 'connected'],
    ]);
  });
});
