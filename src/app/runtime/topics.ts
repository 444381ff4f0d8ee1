import type { Admin } from 'kafkajs';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  ensureTopics,
  maxMessageBytes,
} from '../../adapters/kafka/topics.js';
import { existingTopics } from '../../adapters/kafka/topics.js';
import { registryOptions } from '../../adapters/registry/connection.js';
import { ConfluentRegistryPort } from '../../adapters/registry/port.js';
import { MembraneError } from '../../core/errors.js';
import { compileMapping } from '../../mapping/compile.js';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { mappingDigest, schemaFilesOf } from '../../mapping/digest.js';
import { loadMappingText, readText } from '../../mapping/load.js';
import { findFiles, isMappingFile } from '../../mapping/files.js';
import type { Pipeline } from '../../pipeline/pipeline.js';
import type { RunConfig } from '../config.js';
import { changelogTopic } from './state.js';

/**
 * Loads and compiles every mapping under the configured folder, each with the digest of its
 * text; problems are fatal.
 */
export async function loadPipelines(
  config: RunConfig,
  env: NodeJS.ProcessEnv,
): Promise<Pipeline[]> {
  const files = await findFiles([config.MEMBRANE_MAPPINGS], isMappingFile);
  if (files.length === 0) {
    throw new MembraneError(
      'config.no-mappings',
      `No mapping files (*.yaml) in ${config.MEMBRANE_MAPPINGS}.`,
      {
        hint: 'set MEMBRANE_MAPPINGS to the folder with your mappings',
      },
    );
  }
  const registry = new ConfluentRegistryPort(registryOptions(config));
  const pipelines: Pipeline[] = [];
  for (const file of files) {
    const text = await readText(file, 'mapping file');
    const loaded = loadMappingText(text, file, env);
    const pipeline = await compileMapping(loaded, { registry });
    // compileMapping read every schema file it names: they are there.
    const schemas = await Promise.all(
      schemaFilesOf(loaded.spec).map((schema) =>
        readFile(resolve(dirname(file), schema), 'utf8').catch(() => ''),
      ),
    );
    pipeline.digest = mappingDigest(text, schemas);
    pipeline.limitEnvelope({
      maxHeaders: config.MEMBRANE_MAX_HEADERS,
      maxHeaderBytes: config.MEMBRANE_MAX_HEADER_BYTES,
      maxRecordBytes: config.MEMBRANE_MAX_RECORD_BYTES,
    });
    pipelines.push(pipeline);
  }
  const owners = new Map<string, string>();
  for (const pipeline of pipelines) {
    for (const topic of pipeline.topics) {
      const other = owners.get(topic);
      if (other !== undefined) {
        throw new MembraneError(
          'config.topic-shared',
          `Topic ${topic} is an input of both ${other} and ${pipeline.name}; a topic can feed one mapping.`,
          {
            hint: 'merge the two mappings into one with several routes',
          },
        );
      }
      owners.set(topic, pipeline.name);
    }
  }
  return pipelines;
}

/**
 * Checks the cluster before joining: inputs exist and each mapping's inputs are
 * co-partitioned; creates (or checks) output and quarantine topics.
 */
export async function prepareTopics(
  admin: Admin,
  pipelines: readonly Pipeline[],
  config: RunConfig,
): Promise<{ readonly warnings: readonly string[]; readonly quarantineMaxBytes: number }> {
  const warnings: string[] = [];
  const inputs = pipelines.flatMap((p) => p.topics);
  const existing = await existingTopics(admin, inputs);
  const missing = inputs.filter((topic) => !existing.has(topic));
  if (missing.length > 0) {
    throw new MembraneError(
      'config.input-missing',
      `Input topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} do${missing.length > 1 ? '' : 'es'} not exist.`,
      {
        hint: 'create them, or fix `source.topics` in the mapping',
      },
    );
  }
  const metadata = await admin.fetchTopicMetadata({ topics: inputs });
  const partitions = new Map(metadata.topics.map((t) => [t.name, t.partitions.length]));
  for (const pipeline of pipelines) {
    const counts = pipeline.topics.map(
      (topic) => `${topic} (${partitions.get(topic) ?? 0} partitions)`,
    );
    if (new Set(pipeline.topics.map((topic) => partitions.get(topic))).size > 1) {
      throw new MembraneError(
        'config.not-copartitioned',
        `Mapping ${pipeline.name} reads ${counts.join(' and ')}: the inputs of one mapping must have the same number of partitions, so that one member sees every record of an aggregate.`,
        { hint: 'repartition the inputs to the same partition count (and the same key)' },
      );
    }
  }
  const outputs = [
    ...new Set([...pipelines.flatMap((p) => p.outputTopics()), config.MEMBRANE_QUARANTINE_TOPIC]),
  ];
  // A quarantine record is an upstream record byte for byte plus membrane's headers: its
  // topic must take more than the largest record any input can carry.
  const quarantine = config.MEMBRANE_QUARANTINE_TOPIC;
  const quarantineBytes =
    Math.max(DEFAULT_MAX_MESSAGE_BYTES, ...(await maxMessageBytes(admin, inputs)).values()) +
    QUARANTINE_HEADROOM_BYTES;
  if (config.MEMBRANE_CREATE_TOPICS) {
    await ensureTopics(
      admin,
      outputs.map((topic) => ({
        topic,
        numPartitions: config.MEMBRANE_TOPIC_PARTITIONS,
        replicationFactor: config.MEMBRANE_TOPIC_REPLICATION,
        ...(topic === quarantine
          ? { configEntries: [{ name: 'max.message.bytes', value: String(quarantineBytes) }] }
          : {}),
      })),
    );
  } else {
    const present = await existingTopics(admin, outputs);
    const absent = outputs.filter((topic) => !present.has(topic));
    if (absent.length > 0) {
      throw new MembraneError(
        'config.output-missing',
        `Output topics ${absent.join(', ')} do not exist and MEMBRANE_CREATE_TOPICS=false.`,
        {
          hint: 'create them, or let membrane create them',
        },
      );
    }
  }
  const limits = await limitOutputs(admin, pipelines, outputs);
  const quarantineLimit = limits.get(quarantine);
  // membrane's own headers (up to 100 issues) must fit beside whatever is kept of a record.
  if (quarantineLimit !== undefined && quarantineLimit < MIN_QUARANTINE_BYTES) {
    throw new MembraneError(
      'config.quarantine-too-small',
      `Quarantine topic ${quarantine} takes records of at most ${quarantineLimit} bytes (max.message.bytes); membrane needs at least ${MIN_QUARANTINE_BYTES} for its own headers, and ${quarantineBytes} to keep every input record whole.`,
      { hint: `raise its max.message.bytes to ${quarantineBytes}` },
    );
  }
  if ((quarantineLimit ?? 0) < quarantineBytes) {
    warnings.push(
      `Quarantine topic ${quarantine} takes records of at most ${quarantineLimit ?? 0} bytes (max.message.bytes), but an input record can be as large and membrane adds headers: a record near the inputs' limit would be quarantined cut to fit (membrane.quarantine.truncated), not byte for byte. Raise its max.message.bytes to ${quarantineBytes}.`,
    );
  }
  // State changelogs: compacted, one partition per task. Always ours to create.
  await ensureTopics(
    admin,
    pipelines.map((pipeline) => ({
      topic: changelogTopic(config.MEMBRANE_GROUP_ID, pipeline.name),
      numPartitions: partitions.get(pipeline.topics[0] ?? '') ?? 1,
      replicationFactor: config.MEMBRANE_TOPIC_REPLICATION,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    })),
  );
  const changelogs = await admin.fetchTopicMetadata({
    topics: pipelines.map((p) => changelogTopic(config.MEMBRANE_GROUP_ID, p.name)),
  });
  for (const pipeline of pipelines) {
    const topic = changelogTopic(config.MEMBRANE_GROUP_ID, pipeline.name);
    const have = changelogs.topics.find((t) => t.name === topic)?.partitions.length;
    const want = partitions.get(pipeline.topics[0] ?? '');
    if (have !== want) {
      throw new MembraneError(
        'config.changelog-mismatch',
        `State changelog ${topic} has ${have ?? 0} partitions but the inputs of ${pipeline.name} have ${want ?? 0}.`,
        {
          hint: 'inputs were repartitioned: delete the changelog (clocks restart) or restore the partition count',
        },
      );
    }
  }
  return { warnings, quarantineMaxBytes: quarantineLimit ?? Infinity };
}

/**
 * Tells each pipeline what its output topics take (`max.message.bytes`), so that a translated
 * record that would not fit is quarantined as `encode.too-large` rather than failing its
 * produce for ever. `topics` are those known to exist; returns every limit it read.
 */
export async function limitOutputs(
  admin: Admin,
  pipelines: Iterable<Pipeline>,
  topics: readonly string[],
): Promise<ReadonlyMap<string, number>> {
  const limits = await maxMessageBytes(admin, topics);
  for (const pipeline of pipelines) {
    const own = pipeline.outputTopics().flatMap((topic): [string, number][] => {
      const limit = limits.get(topic);
      return limit === undefined ? [] : [[topic, limit]];
    });
    pipeline.limitOutputs(new Map(own));
  }
  return limits;
}

/** The least a quarantine topic must take: membrane's headers with 100 issues, generously. */
const MIN_QUARANTINE_BYTES = 64 * 1024;

/** Room for membrane's headers on a quarantined record, above the inputs' largest record. */
const QUARANTINE_HEADROOM_BYTES = 1024 * 1024;
