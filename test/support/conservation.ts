import type { Kafka, KafkaMessage } from 'kafkajs';
import { expect } from 'vitest';
import { restorePartitions } from '../../src/adapters/kafka/restore.js';
import type { Received } from './kafka.js';
import { header } from './runtime.js';

/** What the mapping must do with one upstream record. */
export type Fate =
  | { readonly fate: 'output' }
  | { readonly fate: 'drop' }
  | { readonly fate: 'quarantine'; readonly code: string };

/** Where every upstream record went, read back from Kafka by read_committed readers. */
export interface Accounting {
  readonly in: number;
  readonly out: number;
  readonly quarantined: Readonly<Record<string, number>>;
  /** Records the mapping drops on purpose (a route's `drop`), found nowhere — as expected. */
  readonly dropped: number;
  /** Records that should have left a trace and left none. */
  readonly lost: number;
  /** Output IDs seen twice, quarantine entries for one record seen twice, or both at once. */
  readonly duplicated: number;
  /** Records that went somewhere other than their fate says (e.g. quarantined by an outage). */
  readonly misplaced: readonly string[];
  /** The first doubled records, described. */
  readonly doubled?: readonly string[];
}

/** One reliability scenario's figures, printed as a table at the end of the run. */
export interface ScenarioReport extends Accounting {
  readonly scenario: string;
  /** Seconds from each fault's end until membrane committed new input again. */
  readonly recovery: readonly number[];
  readonly seconds: number;
}

declare module 'vitest' {
  interface TaskMeta {
    reliability?: ScenarioReport;
  }
}

/** Every record of `topic`, read_committed, from the beginning to the current end. */
export async function readTopic(kafka: Kafka, topic: string): Promise<Received[]> {
  const admin = kafka.admin();
  await admin.connect();
  let partitions: number[];
  try {
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
    partitions = (metadata.topics[0]?.partitions ?? []).map((p) => p.partitionId);
  } finally {
    await admin.disconnect();
  }
  const received: Received[] = [];
  await restorePartitions(
    kafka,
    topic,
    partitions,
    (partition: number, message: KafkaMessage) => received.push({ topic, partition, message }),
    { groupPrefix: 'membrane-test' },
  );
  return received;
}

const sourceOf = (r: Received): string =>
  `${header(r, 'membrane.source.topic') ?? '?'}/${header(r, 'membrane.source.partition') ?? '?'}/${header(r, 'membrane.source.offset') ?? '?'}`;

/**
 * Accounts for every upstream offset: in an output, in the quarantine (with which code), or
 * dropped on purpose by the mapping. Reports what is missing, doubled or in the wrong place.
 */
export function account(
  inputs: readonly Received[],
  outputs: readonly Received[],
  quarantined: readonly Received[],
  fateOf: (input: Received) => Fate,
): Accounting {
  const traces = new Map<string, string[]>();
  const note = (source: string, where: string): void => {
    traces.set(source, [...(traces.get(source) ?? []), where]);
  };
  const ids = new Set<string>();
  let duplicated = 0;
  const doubled: string[] = [];
  for (const r of outputs) {
    const id = header(r, 'membrane.id') ?? '';
    if (ids.has(id)) {
      duplicated += 1;
      doubled.push(`output ${id} of ${sourceOf(r)} twice`);
    }
    ids.add(id);
    note(sourceOf(r), 'output');
  }
  const byCode: Record<string, number> = {};
  const quarantinedSources = new Set<string>();
  for (const r of quarantined) {
    const code = header(r, 'membrane.quarantine.code') ?? '?';
    byCode[code] = (byCode[code] ?? 0) + 1;
    const source = sourceOf(r);
    if (quarantinedSources.has(source)) {
      duplicated += 1;
      doubled.push(
        `${source} quarantined twice (${code}, at ${r.topic}/${r.partition}/${r.message.offset})`,
      );
    }
    quarantinedSources.add(source);
    note(source, code);
  }
  let dropped = 0;
  let lost = 0;
  const misplaced: string[] = [];
  const known = new Set<string>();
  for (const input of inputs) {
    const source = `${input.topic}/${input.partition}/${input.message.offset}`;
    known.add(source);
    const fate = fateOf(input);
    const where = [...new Set(traces.get(source) ?? [])];
    if (where.length === 0) {
      if (fate.fate === 'drop') dropped += 1;
      else lost += 1;
      continue;
    }
    if (where.includes('output') && where.length > 1) {
      duplicated += 1;
      doubled.push(`${source} both translated and quarantined`);
    }
    const expected = fate.fate === 'quarantine' ? fate.code : fate.fate;
    if (where.length !== 1 || where[0] !== expected)
      misplaced.push(`${source}: expected ${expected}, found ${where.join(' + ')}`);
  }
  for (const source of traces.keys())
    if (!known.has(source)) misplaced.push(`${source}: no such upstream record`);
  return {
    in: inputs.length,
    out: outputs.length,
    quarantined: byCode,
    dropped,
    lost,
    duplicated,
    misplaced,
    doubled: doubled.slice(0, 10),
  };
}

/** The promise: nothing lost, nothing doubled, everything where its fate says. */
export function expectConserved(accounting: Accounting): void {
  expect(accounting.misplaced.slice(0, 10)).toEqual([]);
  expect(accounting.lost).toBe(0);
  expect(accounting.duplicated, (accounting.doubled ?? []).join('; ')).toBe(0);
}
