import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * membrane patches how kafkajs drops the records of aborted transactions from a read_committed
 * fetch (patches/kafkajs+2.2.4.patch). Every read_committed read of membrane goes through it:
 * the inputs, the state restore, the quarantine CLI. Kafka lists a partition's aborted
 * transactions in the order their ABORT markers were written; kafkajs looked only at the head
 * of that list, so a transaction begun before another producer's but aborted after it was
 * returned as committed (a zombie's outputs, fenced and aborted, read as duplicates; in a
 * restore, an aborted clock or emitted ID would have been applied).
 */
const require = createRequire(import.meta.url);
const filterAbortedMessages = require('kafkajs/src/consumer/filterAbortedMessages.js') as (args: {
  messages: Message[];
  abortedTransactions: { producerId: string; firstOffset: string }[];
}) => Message[];

interface Message {
  offset: string;
  key: Buffer | null;
  value: string | null;
  isControlRecord: boolean;
  batchContext: { producerId: string; inTransaction: boolean };
}

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);

/** A partition's log: `p<id>:<value>` data, `p<id>!abort` / `p<id>!commit` markers, `-:<v>` plain. */
function log(...entries: string[]): Message[] {
  return entries.map((entry, offset) => {
    const [producer = '', rest = ''] = entry.split(/[:!]/);
    const marker = entry.includes('!');
    const plain = producer === '-';
    return {
      offset: String(offset),
      key: marker ? (rest === 'abort' ? ABORT : COMMIT) : Buffer.from('k'),
      value: marker ? null : rest,
      isControlRecord: marker,
      batchContext: { producerId: plain ? '-1' : producer, inTransaction: !plain },
    };
  });
}

const visible = (
  messages: Message[],
  aborted: { producerId: string; firstOffset: string }[],
): (string | null)[] =>
  filterAbortedMessages({ messages, abortedTransactions: aborted })
    .filter((m) => !m.isControlRecord)
    .map((m) => m.value);

describe("kafkajs's read_committed filter, patched", () => {
  it('drops a transaction begun first and aborted last, listed after the other (marker order)', () => {
    const messages = log('7:a1', '8:b1', '7:a2', '8!abort', '7:a3', '7!abort', '9:c1', '9!commit');
    expect(
      visible(messages, [
        { producerId: '8', firstOffset: '1' },
        { producerId: '7', firstOffset: '0' },
      ]),
    ).toEqual(['c1']);
  });

  it('keeps a committed transaction interleaved with an aborted one, and plain records', () => {
    const messages = log('7:a1', '-:p1', '8:b1', '7:a2', '8!commit', '7!abort', '-:p2');
    expect(visible(messages, [{ producerId: '7', firstOffset: '0' }])).toEqual(['p1', 'b1', 'p2']);
  });

  it('drops two aborted transactions of one producer around a committed one', () => {
    const messages = log('7:a1', '7!abort', '7:a2', '7!commit', '7:a3', '7!abort', '7:a4');
    expect(
      visible(messages, [
        { producerId: '7', firstOffset: '4' },
        { producerId: '7', firstOffset: '0' },
      ]),
    ).toEqual(['a2', 'a4']);
  });

  it('drops an aborted transaction that began before the fetched records', () => {
    // The fetch starts at offset 2 of the log; the transaction began at 0.
    const messages = log('7:a1', '7:a2', '7:a3', '7!abort', '8:b1').slice(2);
    expect(visible(messages, [{ producerId: '7', firstOffset: '0' }])).toEqual(['b1']);
  });

  it('is not ended by a data record whose key looks like an abort marker', () => {
    const messages = log('7:a1', '7:a2', '7!abort');
    const second = messages[1];
    if (second) second.key = Buffer.from(ABORT);
    expect(visible(messages, [{ producerId: '7', firstOffset: '0' }])).toEqual([]);
  });
});
