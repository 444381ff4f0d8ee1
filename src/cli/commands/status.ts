import { Command } from 'commander';
import { createKafka } from '../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { withKafkaErrors } from '../../adapters/kafka/errors.js';
import { groupStatus, type GroupStatus } from '../../adapters/kafka/status.js';
import { existingTopics } from '../../adapters/kafka/topics.js';
import { loadRunConfig } from '../../app/config.js';
import { loadQuarantine, type QuarantinedRecord } from '../../app/quarantine/store.js';
import { escapeText, safeJson } from '../text.js';
import { countLine, table, unresolvedIn } from './quarantine/common.js';

/** The quarantine as `membrane status` counts it: the same records `quarantine stats` counts. */
export interface QuarantineCensus {
  readonly topic: string;
  readonly total: number;
  readonly unresolved: number;
  /** Records in the topic that are not quarantine records (written there by something else). */
  readonly notQuarantine: number;
  /** Per code of the first issue: unresolved and total, most unresolved first. */
  readonly codes: readonly (readonly [
    code: string,
    counts: { unresolved: number; total: number },
  ])[];
}

export function censusOf(
  topic: string,
  records: readonly QuarantinedRecord[],
  skipped: number,
): QuarantineCensus {
  // A Map: a code is a header value anyone writing to the topic chose (__proto__, constructor).
  const codes = new Map<string, { unresolved: number; total: number }>();
  for (const record of records) {
    const code = record.entry.issues[0]?.code ?? record.entry.stage;
    const counts = codes.get(code) ?? { unresolved: 0, total: 0 };
    counts.total += 1;
    if (record.resolution === undefined) counts.unresolved += 1;
    codes.set(code, counts);
  }
  return {
    topic,
    total: records.length,
    unresolved: unresolvedIn(records),
    notQuarantine: skipped,
    codes: [...codes].sort(
      ([a, x], [b, y]) => y.unresolved - x.unresolved || y.total - x.total || (a < b ? -1 : 1),
    ),
  };
}

/**
 * The quarantine lines of `membrane status`: unresolved of total, in the words of
 * `quarantine stats` (`countLine`), then each code (escaped and cut like a table cell) with
 * both counts.
 */
export function quarantineLines(census: QuarantineCensus): string {
  let out = `quarantine ${escapeText(census.topic)}: ${countLine(census.unresolved, census.total, census.notQuarantine)}\n`;
  if (census.codes.length > 0) {
    out += table(
      ['CODE', 'UNRESOLVED', 'TOTAL'],
      census.codes.map(([code, n]) => [code, String(n.unresolved), String(n.total)]),
    );
  }
  return out;
}

/** A committed offset in words: Kafka's -1 (nothing committed yet) is never shown raw. */
export function committedText(committed: number): string {
  return committed < 0 ? 'none committed' : String(committed);
}

/** The group's partitions and lag, as `status` prints them. */
export function groupLines(status: GroupStatus): string {
  let lag = 0;
  for (const p of status.partitions) lag += p.lag;
  return [
    `group ${escapeText(status.group)}: ${escapeText(status.state)}, ${status.members} member(s)\n`,
    table(
      ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
      status.partitions.map((p) => [
        p.topic,
        String(p.partition),
        committedText(p.committed),
        String(p.end),
        String(p.lag),
      ]),
    ),
    `total lag ${lag}\n`,
  ].join('');
}

/**
 * `status --json`: committed is null where nothing is committed yet; `quarantine` holds the
 * census (null when the topic does not exist); `quarantined` every quarantine record by code,
 * resolved or not, as before the census.
 */
export function statusJson(
  status: GroupStatus,
  census: QuarantineCensus | undefined,
): Record<string, unknown> {
  return {
    group: status.group,
    state: status.state,
    members: status.members,
    partitions: status.partitions.map((p) => ({
      ...p,
      committed: p.committed < 0 ? null : p.committed,
    })),
    quarantine:
      census === undefined
        ? null
        : {
            topic: census.topic,
            unresolved: census.unresolved,
            total: census.total,
            notQuarantine: census.notQuarantine,
            codes: Object.fromEntries(census.codes.map(([code, n]) => [code, { ...n }])),
          },
    ...(census === undefined
      ? {}
      : { quarantined: Object.fromEntries(census.codes.map(([code, n]) => [code, n.total])) }),
  };
}

/**
 * groupStatus counts the quarantine by code too, resolved records and all; status counts it
 * with `loadQuarantine` instead, as `quarantine stats` does, so both say the same. Given a
 * topic name Kafka never has, groupStatus skips its own count: the quarantine is read once.
 */
const NO_TOPIC = '';

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'per input partition of the group: committed offset, end offset and lag; and the quarantine: unresolved of total, by code',
    )
    .option('--json', 'one JSON object instead of a table')
    .action(async (options: { json?: boolean }) => {
      const config = loadRunConfig();
      const connection = kafkaConnection(config, 'status');
      await reachKafka(connection);
      const kafka = createKafka(clientOptions(connection));
      const admin = kafka.admin();
      // An ACL refusal (the group, the quarantine topic) is one sentence, exit 77.
      await withKafkaErrors(() => admin.connect());
      try {
        const topic = config.MEMBRANE_QUARANTINE_TOPIC;
        const [status, topics] = await withKafkaErrors(() =>
          Promise.all([
            groupStatus(kafka, admin, config.MEMBRANE_GROUP_ID, NO_TOPIC),
            // A quarantine topic membrane may not read is a refusal, not "no quarantine yet".
            existingTopics(admin, [topic]),
          ]),
        );
        let census: QuarantineCensus | undefined;
        if (topics.has(topic)) {
          const { records, skipped } = await withKafkaErrors(() =>
            loadQuarantine(kafka, admin, topic),
          );
          census = censusOf(topic, records, skipped);
        }
        const out = process.stdout;
        if (options.json) {
          out.write(`${safeJson(statusJson(status, census))}\n`);
          return;
        }
        // Codes are header values of whatever is in the quarantine topic, which other tools
        // may write to too: escaped and cut like every cell (src/cli/text.ts).
        out.write(groupLines(status));
        out.write(
          census === undefined
            ? `quarantine ${escapeText(topic)}: no such topic\n`
            : quarantineLines(census),
        );
      } finally {
        await admin.disconnect();
      }
    });
}
