import { Command } from 'commander';
import { createKafka } from '../../adapters/kafka/client.js';
import { groupStatus } from '../../adapters/kafka/status.js';
import { loadRunConfig } from '../../app/config.js';

export function statusCommand(): Command {
  return new Command('status')
    .description(
      'per input partition of the group: committed offset, end offset and lag; and the quarantine records by code',
    )
    .option('--json', 'one JSON object instead of a table')
    .action(async (options: { json?: boolean }) => {
      const config = loadRunConfig();
      const kafka = createKafka({
        brokers: config.KAFKA_BROKERS,
        clientId: `${config.KAFKA_CLIENT_ID}-status`,
      });
      const admin = kafka.admin();
      await admin.connect();
      try {
        const status = await groupStatus(
          kafka,
          admin,
          config.MEMBRANE_GROUP_ID,
          config.MEMBRANE_QUARANTINE_TOPIC,
        );
        const out = process.stdout;
        if (options.json) {
          out.write(`${JSON.stringify(status)}\n`);
          return;
        }
        out.write(`group ${status.group}: ${status.state}, ${status.members} member(s)\n`);
        const rows = status.partitions.map((p) => [
          p.topic,
          String(p.partition),
          String(p.committed),
          String(p.end),
          String(p.lag),
        ]);
        const header = ['TOPIC', 'PARTITION', 'COMMITTED', 'END', 'LAG'];
        const widths = header.map((h, i) =>
          Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)),
        );
        for (const row of [header, ...rows]) {
          out.write(
            `${row
              .map((cell, i) => cell.padEnd(widths[i] ?? 0))
              .join('  ')
              .trimEnd()}\n`,
          );
        }
        out.write(`total lag ${status.partitions.reduce((sum, p) => sum + p.lag, 0)}\n`);
        if (status.quarantined === undefined) {
          out.write(`quarantine ${config.MEMBRANE_QUARANTINE_TOPIC}: no such topic\n`);
          return;
        }
        const entries = Object.entries(status.quarantined).sort(([, a], [, b]) => b - a);
        const total = entries.reduce((sum, [, n]) => sum + n, 0);
        out.write(`quarantine ${config.MEMBRANE_QUARANTINE_TOPIC}: ${total} record(s)\n`);
        for (const [code, n] of entries) out.write(`  ${code.padEnd(28)} ${n}\n`);
      } finally {
        await admin.disconnect();
      }
    });
}
