import { readFile } from 'node:fs/promises';
import { Command } from 'commander';
import { parse } from 'yaml';
import { createKafka } from '../../adapters/kafka/client.js';
import { clientOptions, kafkaConnection, reachKafka } from '../../adapters/kafka/connection.js';
import { withKafkaErrors } from '../../adapters/kafka/errors.js';
import { groupStatus, type GroupStatus } from '../../adapters/kafka/status.js';
import { existingTopics } from '../../adapters/kafka/topics.js';
import { loadRunConfig, type RunConfig } from '../../app/config.js';
import {
  loadQuarantine,
  resolutionsTopic,
  type QuarantinedRecord,
} from '../../app/quarantine/store.js';
import { MembraneError } from '../../core/errors.js';
import { findFiles, isMappingFile } from '../../mapping/files.js';
import { ENV_REF } from '../../mapping/load.js';
import { aclRefusal, aclText, principalText, type AclNeed } from '../errors.js';
import { memberVersionLines } from '../../app/versions.js';
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
export function groupLines(status: GroupStatus, unknownInputs: readonly string[] = []): string {
  let lag = 0;
  for (const p of status.partitions) lag += p.lag;
  const total =
    unknownInputs.length === 0
      ? `total lag ${lag}\n`
      : `total lag ≥ ${lag}: no member is running, and the inputs of the mappings are not all known (${unknownInputs.map(escapeText).join('; ')}); an input the principal may not describe would be missing here\n`;
  return [
    `group ${escapeText(status.group)}: ${escapeText(status.state)}, ${status.members} member(s)\n`,
    ...memberVersionLines(status.live).map((line) => `${escapeText(line)}\n`),
    status.members > 0 && status.state !== 'Stable'
      ? '  (the mapping versions each member runs show once the group is stable)\n'
      : '',
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
    total,
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
    // The mapping versions each member publishes (null: a member that does not say).
    memberVersions: status.live.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      host: m.host,
      mappings:
        m.versions === undefined
          ? null
          : Object.fromEntries([...m.versions].map(([name, v]) => [name, { ...v }])),
    })),
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

/** The mappings' inputs, and what kept some of them from being known. */
export interface MappingInputs {
  readonly topics: readonly string[];
  /** Why inputs may be missing: a folder without mappings, an unset `${env:NAME}`. */
  readonly unknown: readonly string[];
}

/**
 * The input topics of the mapping files in `folder` (`source.topics`, `${env:NAME}` filled in
 * from `env`), read without compiling anything: `status` needs no registry, nor the
 * variables only the mappings' other fields use. A folder without mapping files, a file that
 * is not YAML or a reference to a variable that is not set is said in `unknown`: status then
 * cannot tell the group's whole lag unless its members are live.
 */
export async function mappingInputs(
  folder: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<MappingInputs> {
  const files = await findFiles([folder], isMappingFile).catch(() => []);
  const topics = new Set<string>();
  const unknown: string[] = [];
  if (files.length === 0) unknown.push(`MEMBRANE_MAPPINGS (${folder}) holds no mapping files`);
  for (const file of files) {
    let spec: unknown;
    try {
      spec = parse(await readFile(file, 'utf8'));
    } catch {
      unknown.push(`${file} is not YAML`);
      continue;
    }
    const source = (spec as { source?: { topics?: unknown } } | null)?.source;
    const listed = Array.isArray(source?.topics) ? (source.topics as unknown[]) : [];
    for (const topic of listed) {
      if (typeof topic !== 'string') continue;
      const names = [...topic.matchAll(ENV_REF)].map((m) => m[1] ?? '');
      const unset = names.filter((name) => env[name] === undefined);
      if (unset.length > 0) {
        unknown.push(`${file} reads ${topic} and ${unset.join(', ')} is not set`);
        continue;
      }
      const filled = topic.replace(ENV_REF, (_all, name: string) => env[name] ?? '');
      if (filled !== '') topics.add(filled);
    }
  }
  return { topics: [...topics].sort(), unknown };
}

/** What `status` reads, as ACLs: what an ACL refusal names. */
export function statusAcls(config: RunConfig, inputs: readonly string[]): AclNeed[] {
  const quarantine = config.MEMBRANE_QUARANTINE_TOPIC;
  return [
    { operations: ['DESCRIBE'], resource: 'group', name: config.MEMBRANE_GROUP_ID },
    ...inputs.map((name): AclNeed => ({ operations: ['DESCRIBE'], resource: 'topic', name })),
    { operations: ['DESCRIBE', 'READ'], resource: 'topic', name: quarantine },
    { operations: ['DESCRIBE', 'READ'], resource: 'topic', name: resolutionsTopic(quarantine) },
    // loadQuarantine reads each topic through a throwaway group `membrane-cli.restore.<uuid>`,
    // deleted afterwards (without DELETE it stays behind, empty).
    { operations: ['READ', 'DELETE'], resource: 'group', name: 'membrane-cli.', prefixed: true },
  ];
}

/**
 * Input topics the principal may not describe: their lag is unknown, never 0. Exit 77, naming
 * them and the ACL to grant.
 */
export function undescribableError(
  topics: readonly string[],
  group: string,
  from: 'members' | 'mappings' = 'mappings',
  env: NodeJS.ProcessEnv = process.env,
): MembraneError {
  const named = topics.length === 1 ? `topic ${topics[0] ?? ''}` : `topics ${topics.join(', ')}`;
  const according =
    from === 'members'
      ? 'as its running members subscribe'
      : 'according to the mappings in MEMBRANE_MAPPINGS';
  return new MembraneError(
    'kafka.authorization',
    `membrane status may not describe ${named}, read by group ${group} ${according} (TOPIC_AUTHORIZATION_FAILED), so the group's lag there is unknown.`,
    {
      hint: `allow ${principalText(env)} ${topics
        .map((name) => aclText({ operations: ['DESCRIBE'], resource: 'topic', name }))
        .join('; ')}`,
    },
  );
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
      const mappings = await mappingInputs(config.MEMBRANE_MAPPINGS);
      const inputs = mappings.topics;
      // An ACL refusal (the group, a topic) is one sentence naming the ACLs to grant, exit 77.
      const acls = statusAcls(config, inputs);
      const refused = (error: unknown): never => {
        throw aclRefusal(error, 'membrane status', acls);
      };
      const connection = kafkaConnection(config, 'status');
      await reachKafka(connection);
      const kafka = createKafka(clientOptions(connection));
      const admin = kafka.admin();
      await withKafkaErrors(() => admin.connect()).catch(refused);
      try {
        const topic = config.MEMBRANE_QUARANTINE_TOPIC;
        const [status, topics] = await withKafkaErrors(() =>
          Promise.all([
            groupStatus(kafka, admin, config.MEMBRANE_GROUP_ID, NO_TOPIC, { inputs }),
            // A quarantine topic membrane may not read is a refusal, not "no quarantine yet".
            existingTopics(admin, [topic]),
          ]),
        ).catch(refused);
        // A lag status cannot know is not 0: no table that would add up to a wrong total.
        if (status.undescribable.length > 0)
          throw undescribableError(
            status.undescribable,
            config.MEMBRANE_GROUP_ID,
            status.inputsFrom,
          );
        // No member live and the mappings' inputs not all known: a topic the principal may
        // not describe would be missing from the total without a word (Kafka leaves it out
        // of the group's offsets too), so the total is a lower bound, said as such.
        const unknownInputs = status.inputsFrom === 'mappings' ? mappings.unknown : [];
        let census: QuarantineCensus | undefined;
        if (topics.has(topic)) {
          const { records, skipped } = await withKafkaErrors(() =>
            loadQuarantine(kafka, admin, topic),
          ).catch(refused);
          census = censusOf(topic, records, skipped);
        }
        const out = process.stdout;
        if (options.json) {
          out.write(`${safeJson({ ...statusJson(status, census), unknownInputs })}\n`);
          return;
        }
        // Codes are header values of whatever is in the quarantine topic, which other tools
        // may write to too: escaped and cut like every cell (src/cli/text.ts).
        out.write(groupLines(status, unknownInputs));
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
