import { isUtf8 } from 'node:buffer';
import { Command } from 'commander';
import { registryOptions } from '../../../adapters/registry/connection.js';
import { ConfluentRegistryPort } from '../../../adapters/registry/port.js';
import type { SchemaRegistryPort } from '../../../pipeline/ports.js';
import { createDecodeStage } from '../../../pipeline/stages/decode.js';
import { loadQuarantine, type QuarantinedRecord } from '../../../app/quarantine/store.js';
import type { TruncatedBytes, Truncation } from '../../../adapters/quarantine/codec.js';
import { MembraneError } from '../../../core/errors.js';
import { bytesJson, escapeText, escapeValue, safeJson } from '../../text.js';
import { isoOfEpoch, summaryOf, withQuarantine, type QuarantineCommand } from './common.js';
import { parseRef } from './options.js';

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

/** Raw bytes inside a decoded value (Avro bytes and fixed) as `{ "base64": … }`, like keys. */
function jsonable(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { base64: value.toString('base64') };
  if (Array.isArray(value)) return value.map(jsonable);
  if (value !== null && typeof value === 'object') {
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value))
      out[key] = jsonable((value as Record<string, unknown>)[key]);
    return out;
  }
  return value;
}

/** The upstream value, decoded when it can be: what `show` prints, and `show --json` gives. */
export interface DescribedValue {
  /** `JSON`, `Avro (schema 7, Name)`, `bytes (n)…` or `null (tombstone)`. */
  readonly format: string;
  /** For a person: JSON pretty-printed (also a decoded Avro value), else a hex dump. */
  readonly text: string;
  /** The decoded value (JSON, or Avro as JSON); undefined when it is neither. */
  readonly value?: unknown;
}

/** The value of a trust.batch-refused record: the batch as the broker stored it, in hex. */
export function describeBatch(value: Buffer | null): DescribedValue {
  if (value === null) return { format: 'null (tombstone)', text: '' };
  return {
    format: `Kafka record batch (${String(value.length)} bytes, as stored; not decoded)`,
    text: hexDump(value),
  };
}

/**
 * The upstream value for a person: JSON pretty-printed, Avro decoded through the registry, else
 * hex. The text is safe on a terminal as it is: JSON with every unsafe code point as a `\u`
 * escape (`safeJson`, the same value), or a hex dump of printable ASCII.
 */
export async function describeValue(
  value: Buffer | null,
  registry: SchemaRegistryPort,
): Promise<DescribedValue> {
  if (value === null) return { format: 'null (tombstone)', text: '' };
  if (isUtf8(value)) {
    try {
      const parsed: unknown = JSON.parse(value.toString('utf8'));
      return { format: 'JSON', text: safeJson(parsed, 2), value: parsed };
    } catch {
      // not JSON; try Avro, then hex
    }
  }
  let refused = '';
  if (value.length >= 5 && value[0] === 0) {
    const id = value.readInt32BE(1);
    try {
      // Through the decode stage `membrane run` uses: its checks (block counts, nesting,
      // prototype keys) keep an Avro bomb from hanging or crashing the CLI.
      const verdict = await createDecodeStage('avro', { registry, reader: undefined })({
        topic: '',
        partition: 0,
        offset: '0',
        timestamp: '0',
        key: null,
        value,
        headers: {},
      });
      if (verdict.kind === 'pass') {
        const schema = await registry.schemaById(id);
        const decoded = jsonable(verdict.value);
        return {
          format: `Avro (schema ${id}, ${schema?.name ?? 'unnamed'})`,
          text: safeJson(decoded, 2),
          value: decoded,
        };
      }
      const first = verdict.kind === 'quarantine' ? verdict.issues[0] : undefined;
      if (first)
        refused = `; not decoded as Avro: ${first.code}${first.path ? ` at ${first.path}` : ''}`;
    } catch {
      // the registry cannot be asked: show the bytes
    }
  }
  return { format: `bytes (${value.length})${escapeText(refused)}`, text: hexDump(value) };
}

/** What a quarantine record lost to fit its topic, in one line (the codec checked its shape). */
export function describeTruncation(truncation: Truncation): string {
  const part = (name: string, cut: TruncatedBytes | undefined): string[] =>
    cut === undefined
      ? []
      : [`${name} cut to its first ${cut.kept} of ${cut.bytes} bytes (sha256 ${cut.sha256})`];
  const headers = truncation.headers;
  return [
    ...part('value', truncation.value),
    ...part('key', truncation.key),
    ...(headers === undefined
      ? []
      : [
          `${headers.count} upstream headers (${headers.bytes} bytes) left out (sha256 ${headers.sha256})`,
        ]),
    'so it cannot be replayed',
  ].join('; ');
}

export function showCommand(): Command {
  return new Command('show')
    .description('one quarantined record in full: coordinates, headers, issues, the upstream value')
    .argument('<ref>', 'partition:offset in the quarantine topic, as `list` shows it', parseRef)
    .option('--json', 'one JSON object')
    .action(async (ref: string, options: { json?: boolean }) => {
      const command: QuarantineCommand = { name: 'membrane quarantine show', access: 'read' };
      await withQuarantine(command, async (session) => {
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
        const registry = new ConfluentRegistryPort(registryOptions(session.config));
        // A refused batch's value is a Kafka record batch, not a record: never decoded as one
        // (its first byte, of the base offset, is 0 — Avro's magic byte).
        const value = record.entry.issues.some((i) => i.code === 'trust.batch-refused')
          ? describeBatch(record.upstream.value)
          : await describeValue(record.upstream.value, registry);
        const headers = Object.entries(record.upstream.headers).flatMap(([name, v]) =>
          v === undefined ? [] : [[name, Array.isArray(v) ? v : [v]] as const],
        );
        const out = process.stdout;
        if (options.json) {
          out.write(
            `${safeJson({
              ...summaryOf(record),
              // Kafka headers are a list: a name with several values has them in order.
              headers: Object.fromEntries(
                headers.map(([name, vs]) => {
                  const json = vs.map((v) => (typeof v === 'string' ? v : bytesJson(v)));
                  return [name, json.length === 1 ? json[0] : json];
                }),
              ),
              // The decoded value itself (null when it is neither JSON nor Avro, or a
              // tombstone), and the exact bytes: their text when UTF-8, else base64.
              value: value.value ?? null,
              valueFormat: value.format,
              valueBytes: bytesJson(record.upstream.value),
            })}\n`,
          );
          return;
        }
        // Everything below that the record carries is escaped: see src/cli/text.ts. Its issues
        // are JSON from a header, typed by nothing: a number where text was meant is shown too.
        const t = escapeValue;
        const { entry, upstream, resolution } = record;
        const time = isoOfEpoch(entry.source.timestamp);
        const lines = [
          `quarantine ${t(session.config.MEMBRANE_QUARANTINE_TOPIC)} ${t(record.ref)}`,
          `  source       ${t(entry.source.topic)} partition ${entry.source.partition} offset ${t(entry.source.offset)} (timestamp ${time ?? t(entry.source.timestamp)})`,
          `  mapping      ${t(entry.mapping)}, stage ${t(entry.stage)}, attempt ${entry.attempt}`,
          `  quarantined  ${t(entry.quarantinedAt)}`,
          `  id           ${entry.id === undefined ? '(not known)' : t(entry.id)}`,
          `  key          ${upstream.key === null ? '(none)' : t(upstream.key)}`,
          ...(entry.truncated ? [`  truncated    ${describeTruncation(entry.truncated)}`] : []),
          `  state        ${resolution ? `${t(resolution.status)} by ${t(resolution.by)} at ${t(resolution.at)}${resolution.reason ? `: ${t(resolution.reason)}` : ''}` : 'unresolved'}`,
          'issues',
          ...entry.issues.map(
            (issue) =>
              `  ${t(issue.code)}${issue.path ? ` at ${t(issue.path)}` : ''}${issue.rule ? ` (rule ${t(issue.rule)})` : ''}: ${t(issue.message)}`,
          ),
          'headers',
          // One line per value: a name with several values shows each, in order.
          ...headers.flatMap(([name, vs]) => vs.map((v) => `  ${t(name)}: ${t(v)}`)),
          `value, ${t(value.format)}`,
          value.text,
        ];
        out.write(`${lines.join('\n')}\n`);
      });
    });
}
