import type { Message, TopicMessages } from 'kafkajs';

/**
 * How many bytes one produce call carries at most. Kafka refuses a record batch larger than
 * the topic's `max.message.bytes` (1 MB by default) and kafkajs puts everything one call
 * sends to a partition into one batch: below 1 MB per call, no partition's batch can be too
 * large, however the keys fall. A topic that takes less gets its own, smaller, cap.
 */
export const MAX_SEND_BYTES = 900 * 1024;

/** A record batch's own header (v2): base offset to record count. */
export const BATCH_OVERHEAD_BYTES = 61;
/** A record's framing, at most: length, attributes, timestamp and offset deltas, key and value lengths, header count. */
export const RECORD_OVERHEAD_BYTES = 36;
/** A header's framing, at most: the name's and the value's length varints. */
export const HEADER_OVERHEAD_BYTES = 10;

/** What one topic's messages are, with the largest batch its topic takes (absent: no cap but the call's). */
export interface SizedTopicMessages extends TopicMessages {
  readonly maxBatchBytes?: number;
}

/**
 * The bytes a message adds to a record batch, as Kafka encodes it (an upper bound): key,
 * value, header names and values in bytes, and the record's and each header's framing.
 */
export function messageBytes(message: Message): number {
  let bytes = RECORD_OVERHEAD_BYTES + size(message.key) + size(message.value);
  const headers = message.headers;
  if (headers) {
    for (const name in headers) {
      const value = headers[name];
      const nameBytes = HEADER_OVERHEAD_BYTES + Buffer.byteLength(name);
      if (Array.isArray(value)) for (const v of value) bytes += nameBytes + size(v);
      else bytes += nameBytes + size(value);
    }
  }
  return bytes;
}

function size(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/**
 * Splits what one transaction sends into produce calls of at most `maxBytes` each, and at
 * most a topic's `maxBatchBytes` (less the batch header) of that topic's messages, keeping
 * every topic's messages in order (a message larger than a cap goes alone). Usually there is
 * one call; a chunk with large records takes several, all in the same transaction.
 */
export function sendSlices(
  topicMessages: readonly SizedTopicMessages[],
  maxBytes = MAX_SEND_BYTES,
): TopicMessages[][] {
  const slices: TopicMessages[][] = [];
  let current = new Map<string, Message[]>();
  const topicBytes = new Map<string, number>();
  let bytes = 0;
  const close = (): void => {
    if (current.size === 0) return;
    slices.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    topicBytes.clear();
    bytes = 0;
  };
  for (const { topic, messages, maxBatchBytes } of topicMessages) {
    const cap = Math.min(maxBytes, (maxBatchBytes ?? Infinity) - BATCH_OVERHEAD_BYTES);
    for (const message of messages) {
      const added = messageBytes(message);
      const before = topicBytes.get(topic) ?? 0;
      if (bytes > 0 && (bytes + added > maxBytes || (before > 0 && before + added > cap))) close();
      let list = current.get(topic);
      if (!list) current.set(topic, (list = []));
      list.push(message);
      topicBytes.set(topic, (topicBytes.get(topic) ?? 0) + added);
      bytes += added;
    }
  }
  close();
  return slices;
}
