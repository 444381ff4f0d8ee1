import { Command } from 'commander';
import { createKafka } from '../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { withKafkaErrors } from '../../adapters/kafka/errors.js';
import { groupStatus } from '../../adapters/kafka/status.js';
import { loadRunConfig } from '../../app/config.js';
import { displayWidth, escapeCell, escapeText, padEnd, safeJson } from '../text.js';
import { table } from './quarantine/common.js';

/** Columns the code takes before its count (more for a longer code). */
const CODE_COLUMNS = 28;

/**
 * The quarantine lines of `membrane status`: the total, then each code (escaped, cut like a
 * table cell) with its count, most first. `topic` is escaped already.
 */
export function quarantineLines(topic: string, counts: Readonly<Record<string, number>>): string {
  const entries = Object.entries(counts).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  let total = 0;
  for (const [, n] of entries) total += n;
  let out = `quarantine ${topic}: ${total} record(s)\n`;
  for (const [code, n] of entries) {
    const shown = escapeCell(code);
    out += `  ${padEnd(shown, Math.max(CODE_COLUMNS, displayWidth(shown)))} ${n}\n`;
  }
  return out;
}

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'per input partition of the group: committed offset, end offset and lag; and the quarantine records by code',
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
        const status = await withKafkaErrors(() =>
          groupStatus(kafka, admin, config.MEMBRANE_GROUP_ID, config.MEMBRANE_QUARANTINE_TOPIC),
        );
        const out = process.stdout;
        if (options.json) {
          out.write(`${safeJson(status)}\n`);
          return;
        }
        // Codes are header values of whatever is in the quarantine topic, which other tools
        // may write to too: escaped and cut like every cell (src/cli/text.ts).
        const t = escapeText;
        out.write(`group ${t(status.group)}: ${t(status.state)}, ${status.members} member(s)\n`);
        out.write(
          table(
            ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'],
            status.partitions.map((p) => [
              p.topic,
              String(p.partition),
              String(p.committed),
              String(p.end),
              String(p.lag),
            ]),
          ),
        );
        let lag = 0;
        for (const p of status.partitions) lag += p.lag;
        out.write(`total lag ${lag}\n`);
        const topic = t(config.MEMBRANE_QUARANTINE_TOPIC);
        if (status.quarantined === undefined) {
          out.write(`quarantine ${topic}: no such topic\n`);
          return;
        }
        out.write(quarantineLines(topic, status.quarantined));
      } finally {
        await admin.disconnect();
      }
    });
}
