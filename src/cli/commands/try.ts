import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { DateTime } from 'luxon';
import { MembraneError } from '../../core/errors.js';
import type { Issue } from '../../core/issues.js';
import type { OutputRecord } from '../../core/records.js';
import { MappingError } from '../../mapping/load.js';
import { tryRecord, type StageVerdict, type TryResult } from '../../mapping/try-record.js';
import { bytesJson, escapeBytes, escapeText, safeJson } from '../text.js';

/**
 * `membrane try <mapping> [value]`: one record through a mapping — each stage's verdict, then
 * the output records, the drop or the quarantine. The fastest loop from a question about a
 * mapping to its answer: no test file, no Kafka, no registry.
 */

function refuse(sentence: string, hint: string): never {
  throw new MembraneError('cli.invalid-option', sentence, { hint });
}

/** `--header name=value`, repeatable; a name given twice is refused. */
function collectHeader(text: string, headers: Record<string, string>): Record<string, string> {
  const at = text.indexOf('=');
  if (at <= 0) {
    refuse(
      `--header must be name=value, not "${escapeText(text)}".`,
      'give each header as --header name=value, like --header x-source-system=legacy-erp',
    );
  }
  const name = text.slice(0, at);
  if (Object.hasOwn(headers, name)) {
    refuse(
      `--header ${escapeText(name)} is given twice; membrane reads only the first value of a header.`,
      'give each header once',
    );
  }
  return Object.defineProperty({ ...headers }, name, {
    value: text.slice(at + 1),
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** `--timestamp`: milliseconds since the epoch, or an ISO 8601 time. */
function parseTimestamp(text: string): string {
  if (/^\d{1,15}$/.test(text)) return String(Number(text));
  const time = DateTime.fromISO(text, { setZone: true });
  if (time.isValid) return String(time.toMillis());
  return refuse(
    `--timestamp must be milliseconds since the epoch or an ISO 8601 time, not "${escapeText(text)}".`,
    'give one like --timestamp 1763800000000 or --timestamp 2026-11-22T08:26:40Z',
  );
}

function loadEnvFile(file: string): void {
  try {
    process.loadEnvFile(file);
  } catch (error) {
    throw new MembraneError(
      'try.unreadable',
      `Cannot read env file ${escapeText(file)}: ${escapeText((error as Error).message)}.`,
      { cause: error, hint: 'check the path' },
    );
  }
}

async function readValue(file: string | undefined): Promise<Buffer> {
  if (file === undefined || file === '-') {
    if (process.stdin.isTTY)
      process.stderr.write('membrane: reading the value from stdin (end it with Ctrl-D)\n');
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin)
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks);
  }
  try {
    return await readFile(file);
  } catch (error) {
    throw new MembraneError(
      'try.unreadable',
      `Cannot read value file ${escapeText(file)}: ${escapeText((error as Error).message)}.`,
      { cause: error, hint: 'check the path, or give the value on stdin' },
    );
  }
}

/**
 * A refusal with its sentence and hint escaped: they quote the user's input (a topic, a path,
 * a parser's words about a value that may come from upstream). A MappingError is left as it
 * is: its lines are the mapping file's, and its own formatting.
 */
async function escapingRefusals<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof MembraneError) || error instanceof MappingError) throw error;
    throw new MembraneError(error.code, escapeText(error.message), {
      cause: error,
      ...(error.hint === undefined ? {} : { hint: escapeText(error.hint) }),
    });
  }
}

/** `map.cast-failed at total_amount (rule r): message`, escaped. */
function issueText(issue: Issue, withMessage: boolean): string {
  const where = issue.path ? ` at ${escapeText(issue.path)}` : '';
  const rule = issue.rule !== undefined ? ` (rule ${escapeText(issue.rule)})` : '';
  return `${issue.code}${where}${rule}${withMessage ? `: ${escapeText(issue.message)}` : ''}`;
}

const STAGE_COLUMN = 10;

function stageLine(
  verdict: StageVerdict,
  colour: { ok(s: string): string; bad(s: string): string },
): string {
  const stage = verdict.stage.padEnd(STAGE_COLUMN);
  switch (verdict.verdict) {
    case 'pass':
      return `${stage}${colour.ok('✓')}${verdict.route !== undefined ? ` ${escapeText(verdict.route)}` : ''}`;
    case 'drop':
      return `${stage}– dropped: ${escapeText(verdict.reason)}`;
    case 'quarantine': {
      const [first] = verdict.issues;
      const more = verdict.issues.length > 1 ? ` (and ${verdict.issues.length - 1} more)` : '';
      return `${stage}${colour.bad('✗')} ${first ? issueText(first, false) : ''}${more}`;
    }
    case 'not-run':
      return `${stage}· not run`;
  }
}

/** Indents every line of a block. */
const indent = (text: string, by: string): string =>
  text
    .split('\n')
    .map((line) => by + line)
    .join('\n');

function outputLines(output: OutputRecord, index: number, count: number): string[] {
  return [
    `output ${index + 1} of ${count}: ${escapeText(output.topic)}`,
    `  key: ${output.key === null ? '(none)' : escapeBytes(output.key)}`,
    '  headers:',
    ...Object.entries(output.headers).map(
      ([name, value]) => `    ${escapeText(name)}: ${escapeText(value)}`,
    ),
    '  value:',
    indent(safeJson(output.payload, 2), '    '),
  ];
}

/** What a person reads: the stages, then the outputs, the drop or the quarantine. */
export function humanReport(tried: TryResult, colourful: boolean): string {
  const paint = (code: number) => (s: string) => (colourful ? `\u001b[${code}m${s}\u001b[39m` : s);
  const colour = { ok: paint(32), bad: paint(31) };
  const { result } = tried;
  const lines = [
    `${escapeText(tried.mapping)} ← ${escapeText(tried.record.topic)}`,
    ...tried.stages.map((v) => `  ${stageLine(v, colour)}`),
  ];
  if (result.kind === 'pass') {
    if (result.outputs.length === 0) lines.push('passed, with no output records');
    result.outputs.forEach((output, i) =>
      lines.push(...outputLines(output, i, result.outputs.length)),
    );
  } else if (result.kind === 'drop') {
    lines.push(`dropped on purpose (${result.cause.kind}): ${escapeText(result.reason)}`);
  } else {
    const n = result.issues.length;
    lines.push(
      `${colour.bad('quarantined')} by ${result.stage}: ${n === 1 ? '1 issue' : `${n} issues`}`,
      ...result.issues.map((issue) => `  ${issueText(issue, true)}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What a program reads (`--json`): the same, as one object of stable shape. */
export function jsonReport(tried: TryResult): unknown {
  const { result } = tried;
  const first = result.kind === 'quarantine' ? result.issues[0] : undefined;
  return {
    mapping: tried.mapping,
    topic: tried.record.topic,
    result: result.kind,
    stages: tried.stages,
    outputs:
      result.kind === 'pass'
        ? result.outputs.map((o) => ({
            topic: o.topic,
            key: bytesJson(o.key),
            headers: o.headers,
            value: o.payload,
          }))
        : [],
    quarantine:
      result.kind === 'quarantine'
        ? {
            stage: result.stage,
            code: first?.code ?? null,
            path: first?.path ?? null,
            message: first?.message ?? null,
            rule: first?.rule ?? null,
            issues: result.issues,
          }
        : null,
    drop:
      result.kind === 'drop'
        ? { kind: result.cause.kind, route: result.cause.route ?? null, reason: result.reason }
        : null,
  };
}

interface TryOptions {
  key?: string;
  header: Record<string, string>;
  sign?: string;
  topic?: string;
  schema?: string;
  timestamp?: string;
  envFile?: string;
  json?: boolean;
}

export function tryCommand(): Command {
  return new Command('try')
    .description(
      'one record through a mapping: each stage’s verdict, then the output records, the drop or the quarantine (no Kafka needed)',
    )
    .argument('<mapping>', 'the mapping file')
    .argument(
      '[value]',
      'a file with the record’s value (stdin when left out or -): a JSON mapping reads its bytes as they are; for an Avro mapping it is the value as JSON',
    )
    .option('--key <key>', 'the record key (text)')
    .addOption(
      new Option('--header <name=value>', 'a record header; repeat for more')
        .argParser(collectHeader)
        .default({}, 'none'),
    )
    .option('--sign <keyId>', 'sign value and covered headers with this HMAC key of the mapping')
    .option('--topic <topic>', 'which of the mapping’s source topics (default: its first)')
    .option(
      '--schema <file>',
      'Avro mappings: the writer schema (.avsc) the value is written with (default: the mapping’s source.schema)',
    )
    .addOption(
      new Option(
        '--timestamp <time>',
        'the record timestamp: milliseconds since the epoch or ISO 8601 (default: now)',
      ).argParser(parseTimestamp),
    )
    .option('--env-file <file>', 'load environment variables (for ${env:…}) from this file first')
    .option('--json', 'one JSON object')
    .action(async (mappingFile: string, valueFile: string | undefined, options: TryOptions) => {
      if (options.envFile) loadEnvFile(options.envFile);
      const tried = await escapingRefusals(
        tryRecord({
          mappingFile,
          value: await readValue(valueFile),
          env: process.env,
          topic: options.topic,
          key: options.key,
          headers: options.header,
          sign: options.sign,
          timestamp: options.timestamp ?? String(Date.now()),
          schemaFile: options.schema,
        }),
      );
      process.stdout.write(
        options.json
          ? `${safeJson(jsonReport(tried), 2)}\n`
          : humanReport(tried, process.stdout.isTTY),
      );
      process.exitCode = tried.result.kind === 'quarantine' ? 1 : 0;
    });
}
