import type { Message, TopicMessages } from 'kafkajs';

/**
 * How many bytes one produce call carries at most. Kafka refuses a record batch larger than
 * the topic's `max.message.bytes` (1 MB by default) and kafkajs puts everything one call
 * sends to a partition into one batch: below 1 MB per call, no partition's batch can be too
 * large, however the keys fall.
 */
export const MAX_SEND_BYTES = 900 * 1024;

/** The bytes a message adds to a record batch, near enough (length prefixes left out). */
export function messageBytes(message: Message): number {
  let bytes = size(message.key) + size(message.value);
  const headers = message.headers;
  if (headers) {
    for (const name in headers) {
      const value = headers[name];
      bytes += name.length;
      if (Array.isArray(value)) for (const v of value) bytes += size(v);
      else bytes += size(value);
    }
  }
  return bytes;
}

function size(value: Buffer | string | null | undefined): number {
  if (value === null || value === undefined) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/**
 * Splits what one transaction sends into produce calls of at most `maxBytes` each, keeping
 * every topic's messages in order (a message larger than `maxBytes` goes alone). Usually
 * there is one call; a chunk with large records takes several, all in the same transaction.
 */
export function sendSlices(
  topicMessages: readonly TopicMessages[],
  maxBytes = MAX_SEND_BYTES,
): TopicMessages[][] {
  const slices: TopicMessages[][] = [];
  let current = new Map<string, Message[]>();
  let bytes = 0;
  const close = (): void => {
    if (current.size === 0) return;
    slices.push([...current].map(([topic, messages]) => ({ topic, messages })));
    current = new Map();
    bytes = 0;
  };
  for (const { topic, messages } of topicMessages) {
    for (const message of messages) {
      const added = messageBytes(message);
      if (bytes > 0 && bytes + added > maxBytes) close();
      let list = current.get(topic);
      if (!list) current.set(topic, (list = []));
      list.push(message);
      bytes += added;
    }
  }
  close();
  return slices;
}
