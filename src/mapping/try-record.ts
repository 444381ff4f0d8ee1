import { isUtf8 } from 'node:buffer';
import { dirname, isAbsolute, join } from 'node:path';
import avro, { type Type } from 'avsc';
import { MembraneError } from '../core/errors.js';
import { shown, type Issue, type Stage } from '../core/issues.js';
import type { PipelineResult, SourceRecord } from '../core/records.js';
import type { DropKind } from '../core/verdict.js';
import { compileExpression } from '../pipeline/cel.js';
import {
  InMemoryClocks,
  InMemorySchemaRegistry,
  type SchemaRegistryPort,
} from '../pipeline/ports.js';
import { createDecodeStage } from '../pipeline/stages/decode.js';
import { createRouteStage } from '../pipeline/stages/route.js';
import { createUpcastStage } from '../pipeline/stages/upcast.js';
import { compileMapping } from './compile.js';
import { loadMappingText, readText, type LoadedMapping } from './load.js';
import { encodeValue, signHeaders, upstreamRecord, type SignatureSpec } from './record-input.js';

/**
 * `membrane try`: one upstream record through a mapping, without Kafka — the record built as
 * a test file builds it (src/mapping/record-input.ts), run by the compiled pipeline with an
 * in-memory registry and fresh clocks, and what each stage said.
 */
export interface TryInput {
  readonly mappingFile: string;
  /**
   * The value as given: for a JSON mapping its exact bytes; for an Avro mapping JSON text,
   * written with the writer schema (`null`: a tombstone).
   */
  readonly value: Buffer;
  /** For `${env:…}` in the mapping. */
  readonly env: NodeJS.ProcessEnv;
  /** One of the mapping's source topics; default its first. */
  readonly topic?: string | undefined;
  readonly key?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Sign with this key ID of the mapping's HMAC keys, as test files' `sign:` does. */
  readonly sign?: string | undefined;
  /** Milliseconds since the epoch. */
  readonly timestamp: string;
  /** The Avro writer schema (.avsc); default the mapping's `source.schema`. */
  readonly schemaFile?: string | undefined;
}

/** What one stage did with the record; `not-run` for the stages after the one that ended it. */
export type StageVerdict =
  | { readonly stage: Stage; readonly verdict: 'pass'; readonly route?: string }
  | {
      readonly stage: Stage;
      readonly verdict: 'drop';
      readonly route?: string;
      readonly reason: string;
    }
  | { readonly stage: Stage; readonly verdict: 'quarantine'; readonly issues: readonly Issue[] }
  | { readonly stage: Stage; readonly verdict: 'not-run' };

export interface TryResult {
  /** name@version */
  readonly mapping: string;
  /** The record as it went in: its signature headers added. */
  readonly record: SourceRecord;
  readonly stages: readonly StageVerdict[];
  readonly result: PipelineResult;
}

/**
 * A refusal: one sentence and what to do. What it quotes of the user's input — a topic, a
 * path, a parser's words about the value, which may come from upstream — is raw text here:
 * the CLI escapes the sentence before it reaches a terminal.
 */
function invalid(code: string, sentence: string, hint: string): MembraneError {
  return new MembraneError(code, sentence, { hint });
}

/** Text from the user's input or about it, cut at 200 characters. */
function quote(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** A path the mapping gives, relative to the mapping file (as short as the mapping's own path). */
function besideMapping(mapping: LoadedMapping, path: string): string {
  return isAbsolute(path) ? path : join(dirname(mapping.file), path);
}

async function readSchema(file: string): Promise<Type> {
  const text = await readText(file, 'schema file');
  try {
    return avro.Type.forSchema(JSON.parse(text) as avro.Schema);
  } catch (error) {
    throw invalid(
      'try.invalid-schema',
      `Schema file ${quote(file)} is not an Avro schema: ${quote((error as Error).message)}.`,
      'give an .avsc file',
    );
  }
}

/** The value bytes the mapping's source format reads, from what the user gave. */
async function valueBytes(
  mapping: LoadedMapping,
  input: TryInput,
  registry: SchemaRegistryPort,
): Promise<Buffer | null> {
  const format = mapping.spec.source.format;
  if (format === 'json') return input.value;
  const schemaFile =
    input.schemaFile ??
    (mapping.spec.source.schema === undefined
      ? undefined
      : besideMapping(mapping, mapping.spec.source.schema));
  if (schemaFile === undefined) {
    throw invalid(
      'cli.invalid-option',
      `Mapping ${mapping.spec.name} reads Avro and names no source.schema to write the value with.`,
      'give the writer schema with --schema <file.avsc>',
    );
  }
  let value: unknown;
  try {
    if (!isUtf8(input.value)) throw new Error('it is not UTF-8 text');
    value = JSON.parse(input.value.toString('utf8'));
  } catch (error) {
    throw invalid(
      'try.invalid-value',
      `The value is not JSON (${quote((error as Error).message)}); for an Avro mapping it is given as JSON and written with ${quote(schemaFile)}.`,
      'give the Avro value as JSON, as in test files (a union as its plain value)',
    );
  }
  if (value === null) return null;
  const writer = await readSchema(schemaFile);
  const misfits = misfitsOf(writer, value);
  if (misfits.length > 0) {
    throw invalid(
      'try.invalid-value',
      `The value does not fit ${quote(schemaFile)}: ${quote(misfits.join('; '))}.`,
      'give a value of that schema, or its writer schema with --schema',
    );
  }
  return encodeValue(format, value, { writer }, registry);
}

/** Where a value does not fit an Avro schema (up to five places), in words. */
function misfitsOf(schema: Type, value: unknown): string[] {
  const found: string[] = [];
  schema.isValid(value, {
    errorHook(path: string[], any: unknown, type: Type) {
      if (found.length >= 5) return;
      const where = path.length === 0 ? 'the value' : path.join('.');
      const name = type.typeName;
      const wanted = name.startsWith('union')
        ? 'none of its union'
        : `${/^[aeiou]/.test(name) ? 'an' : 'a'} ${name}`;
      found.push(
        any === undefined
          ? `${where} is missing (${wanted})`
          : `${where} is ${shown(any)}, not ${wanted}`,
      );
    },
  });
  return found;
}

/** The mapping's HMAC signature, when `--sign` asks for one; refused when it cannot sign. */
function signatureToSign(mapping: LoadedMapping, input: TryInput): SignatureSpec | undefined {
  if (input.sign === undefined) return undefined;
  const signature = mapping.spec.trust?.signature;
  if (signature === undefined) {
    throw invalid(
      'cli.invalid-option',
      `Mapping ${mapping.spec.name} checks no signature (it has no trust.signature): --sign has nothing to sign for.`,
      'leave out --sign',
    );
  }
  if (signature.algorithm !== 'hmac-sha256') {
    throw invalid(
      'cli.invalid-option',
      `Mapping ${mapping.spec.name} checks ${signature.algorithm} signatures, and --sign signs only with HMAC secrets (the mapping holds only public keys).`,
      `sign with your private key and give --header ${signature.header}=<base64> --header ${signature.keyIdHeader}=<key ID>`,
    );
  }
  return signature;
}

/** The stage a drop of this kind happened in. */
function dropStage(kind: DropKind): Stage {
  if (kind === 'route' || kind === 'otherwise') return 'route';
  if (kind === 'duplicate') return 'stamp';
  return kind;
}

/**
 * The stages in the order the pipeline ran them for this result: an identity problem
 * (`stamp.missing-identity`, an unreadable upstream clock) is found right after routing,
 * before the map (such a quarantine has no ID); the output clock is checked last.
 */
function runOrder(result: PipelineResult, upcast: boolean): Stage[] {
  const identity =
    result.kind === 'quarantine' && result.stage === 'stamp' && result.id === undefined;
  const order: Stage[] = identity
    ? ['trust', 'decode', 'upcast', 'route', 'stamp', 'map', 'validate', 'encode']
    : ['trust', 'decode', 'upcast', 'route', 'map', 'validate', 'encode', 'stamp'];
  return upcast ? order : order.filter((stage) => stage !== 'upcast');
}

/** Each stage's verdict, from the pipeline's result: those before the last one passed. */
export function stageVerdicts(
  result: PipelineResult,
  upcast: boolean,
  route: string | undefined,
): StageVerdict[] {
  const last =
    result.kind === 'pass'
      ? undefined
      : result.kind === 'drop'
        ? dropStage(result.cause.kind)
        : result.stage;
  const verdicts: StageVerdict[] = [];
  let ended = false;
  for (const stage of runOrder(result, upcast)) {
    const named = stage === 'route' && route !== undefined ? { route } : {};
    if (ended) verdicts.push({ stage, verdict: 'not-run' });
    else if (stage !== last) verdicts.push({ stage, verdict: 'pass', ...named });
    else {
      ended = true;
      verdicts.push(
        result.kind === 'drop'
          ? { stage, verdict: 'drop', ...named, reason: result.reason }
          : {
              stage,
              verdict: 'quarantine',
              issues: result.kind === 'quarantine' ? result.issues : [],
            },
      );
    }
  }
  return verdicts;
}

/**
 * The route the record takes, for a quarantine after routing (the pipeline's result names the
 * route only for outputs and drops): the record decoded, upcast and routed again by the same
 * stages, built from the same mapping.
 */
async function routeTaken(
  mapping: LoadedMapping,
  registry: SchemaRegistryPort,
  record: SourceRecord,
): Promise<string | undefined> {
  const spec = mapping.spec;
  const reader =
    spec.source.format !== 'json' && spec.source.schema !== undefined
      ? await readSchema(besideMapping(mapping, spec.source.schema))
      : undefined;
  const decoded = await createDecodeStage(spec.source.format, { registry, reader })(record);
  if (decoded.kind !== 'pass') return undefined;
  let fields = decoded.value;
  if (spec.upcast) {
    const upcast = createUpcastStage(spec.upcast)(fields);
    if (upcast.kind !== 'pass') return undefined;
    fields = upcast.value;
  }
  const routes = spec.events.map((event) => ({
    name: event.name,
    when: event.when === undefined ? undefined : compileExpression(event.when),
  }));
  const routed = createRouteStage(routes)(fields, record);
  return routed.kind === 'matched' ? routed.route.name : undefined;
}

/** The route a result names, or undefined when it names none. */
function routeOfResult(result: PipelineResult): string | undefined {
  if (result.kind === 'pass') return result.outputs[0]?.route;
  if (result.kind === 'drop') return result.cause.route;
  return undefined;
}

/** Stages that run after routing: a quarantine there happened on a route. */
const AFTER_ROUTE: ReadonlySet<Stage> = new Set(['map', 'validate', 'encode', 'stamp']);

/**
 * Loads and compiles the mapping, builds the record and runs it. Throws a MappingError for a
 * mapping with problems, a MembraneError for a value or an option that cannot make a record.
 */
export async function tryRecord(input: TryInput): Promise<TryResult> {
  const mapping = loadMappingText(
    await readText(input.mappingFile, 'mapping file'),
    input.mappingFile,
    input.env,
  );
  const registry = new InMemorySchemaRegistry();
  const pipeline = await compileMapping(mapping, { registry, clocks: new InMemoryClocks() });
  const topics = mapping.spec.source.topics;
  const topic = input.topic ?? topics[0] ?? '';
  if (!topics.includes(topic)) {
    throw invalid(
      'cli.invalid-option',
      `--topic ${quote(topic)} is not a source topic of mapping ${pipeline.ref}, which reads ${quote(topics.join(', '))}.`,
      `give one of them, like --topic ${quote(topics[0] ?? '')}`,
    );
  }
  const signature = signatureToSign(mapping, input);
  const value = await valueBytes(mapping, input, registry);
  const headers = { ...input.headers };
  const record = upstreamRecord({
    topic,
    partition: 0,
    offset: '0',
    timestamp: input.timestamp,
    key: input.key,
    value,
    headers:
      signature && input.sign !== undefined
        ? signHeaders(signature, value, headers, input.sign)
        : headers,
  });
  const result = await pipeline.process(record);
  const route =
    routeOfResult(result) ??
    (result.kind === 'quarantine' && AFTER_ROUTE.has(result.stage)
      ? await routeTaken(mapping, registry, record)
      : undefined);
  return {
    mapping: pipeline.ref,
    record,
    stages: stageVerdicts(result, mapping.spec.upcast !== undefined, route),
    result,
  };
}
