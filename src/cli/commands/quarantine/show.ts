import { isUtf8 } from 'node:buffer';
import { Command } from 'commander';
import { ConfluentRegistryPort } from '../../../adapters/registry/port.js';
import { loadQuarantine, type QuarantinedRecord } from '../../../app/quarantine/store.js';
import { MembraneError } from '../../../core/errors.js';
import { summaryOf, withQuarantine } from './common.js';

/** 16 bytes a line: offset, hex, printable characters. */
export function hexDump(bytes: Buffer, max = 512): string {
  const lines: string[] = [];
  for (let at = 0; at < Math.min(bytes.length, max); at += 16) {
    const row = bytes.subarray(at, at + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const text = [...row]
      .map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.'))
      .join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${text}`);
  }
  if (bytes.length > max) lines.push(`… ${bytes.length - max} more bytes`);
  return lines.join('\n');
}

/** The upstream value for a person: JSON pretty-printed, Avro decoded through the registry, else hex. */
export async function describeValue(
  value: Buffer | null,
  registry: ConfluentRegistryPort,
): Promise<{ format: string; text: string }> {
  if (value === null) return { format: 'null (tombstone)', text: '' };
  if (isUtf8(value)) {
    try {
      return { format: 'JSON', text: JSON.stringify(JSON.parse(value.toString('utf8')), null, 2) };
    } catch {
      // not JSON; try Avro, then hex
    }
  }
  if (value.length >= 5 && value[0] === 0) {
    const id = value.readInt32BE(1);
    try {
      const schema = await registry.schemaById(id);
      if (schema) {
        const decoded: unknown = schema.fromBuffer(value.subarray(5));
        return {
          format: `Avro (schema ${id}, ${schema.name ?? 'unnamed'})`,
          text: JSON.stringify(decoded, null, 2),
        };
      }
    } catch {
      // undecodable with that schema: show the bytes
    }
  }
  return { format: `bytes (${value.length})`, text: hexDump(value) };
}

export function showCommand(): Command {
  return new Command('show')
    .description('one quarantined record in full: coordinates, headers, issues, the upstream value')
    .argument('<ref>', 'partition:offset in the quarantine topic, as `list` shows it')
    .option('--json', 'one JSON object')
    .action(async (ref: string, options: { json?: boolean }) => {
      await withQuarantine(async (session) => {
        const { records } = await loadQuarantine(
          session.kafka,
          session.admin,
          session.config.MEMBRANE_QUARANTINE_TOPIC,
        );
        const record: QuarantinedRecord | undefined = records.find((r) => r.ref === ref);
        if (!record) {
          throw new MembraneError(
            'cli.not-found',
            `No quarantine record ${ref} in ${session.config.MEMBRANE_QUARANTINE_TOPIC}.`,
            {
              hint: 'take the REF column of `membrane quarantine list --all`',
            },
          );
        }
        const registry = new ConfluentRegistryPort({ url: session.config.SCHEMA_REGISTRY_URL });
        const value = await describeValue(record.upstream.value, registry);
        const headers = Object.fromEntries(
          Object.entries(record.upstream.headers).map(([name, v]) => [
            name,
            Array.isArray(v) ? v.map(String) : String(v),
          ]),
        );
        const out = process.stdout;
        if (options.json) {
          out.write(
            `${JSON.stringify({ ...summaryOf(record), headers, value: value.text, valueFormat: value.format })}\n`,
          );
          return;
        }
        const { entry } = record;
        out.write(`quarantine ${session.config.MEMBRANE_QUARANTINE_TOPIC} ${record.ref}\n`);
        out.write(
          `  source       ${entry.source.topic} partition ${entry.source.partition} offset ${entry.source.offset} (timestamp ${entry.source.timestamp})\n`,
        );
        out.write(
          `  mapping      ${entry.mapping}, stage ${entry.stage}, attempt ${entry.attempt}\n`,
        );
        out.write(`  quarantined  ${entry.quarantinedAt}\n`);
        out.write(`  id           ${entry.id ?? '(not known)'}\n`);
        out.write(`  key          ${record.upstream.key?.toString('utf8') ?? '(none)'}\n`);
        out.write(
          `  state        ${record.resolution ? `${record.resolution.status} by ${record.resolution.by} at ${record.resolution.at}${record.resolution.reason ? `: ${record.resolution.reason}` : ''}` : 'unresolved'}\n`,
        );
        out.write('issues\n');
        for (const issue of entry.issues) {
          out.write(
            `  ${issue.code}${issue.path ? ` at ${issue.path}` : ''}${issue.rule ? ` (rule ${issue.rule})` : ''}: ${issue.message}\n`,
          );
        }
        out.write('headers\n');
        for (const [name, v] of Object.entries(headers))
          out.write(`  ${name}: ${Array.isArray(v) ? v.join(', ') : v}\n`);
        out.write(`value, ${value.format}\n${value.text}\n`);
      });
    });
}
