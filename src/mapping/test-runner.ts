import { dirname, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import avro, { type Type } from 'avsc';
import { z } from 'zod';
import type { PipelineResult } from '../core/records.js';
import { InMemoryClocks, InMemorySchemaRegistry } from '../pipeline/ports.js';
import { compileMapping } from './compile.js';
import { loadMappingText, loadYaml, readText } from './load.js';
import { encodeValue, signHeaders, upstreamRecord } from './record-input.js';

/**
 * `membrane test`: test files beside mappings (`*.test.yaml`) give upstream records and what
 * must come out — outputs (topic, key, payload, selected headers), a quarantine code, or a
 * drop. Runs the real compiled pipeline with an in-memory registry and clocks.
 */
const rawBytes = z
  .strictObject({
    text: z.string().optional(),
    hex: z.string().optional(),
    base64: z.string().optional(),
  })
  .refine(
    (r) => [r.text, r.hex, r.base64].filter((v) => v !== undefined).length === 1,
    'give one of text, hex, base64',
  );

const avroInput = z.strictObject({
  schema: z.string().optional().describe('The writer schema (.avsc), relative to the test file.'),
  schemaId: z.int().optional().describe('Override the schema ID in the wire header.'),
  magic: z.int().min(0).max(255).optional().describe('Override the magic byte.'),
});

const input = z.strictObject({
  topic: z.string().optional(),
  partition: z.int().min(0).optional(),
  timestamp: z.string().optional(),
  key: z.string().nullable().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  value: z
    .json()
    .optional()
    .describe('An object: encoded as the mapping reads it (JSON or Avro); null: a tombstone.'),
  raw: rawBytes.optional().describe('Exact value bytes.'),
  avro: avroInput.optional(),
  sign: z
    .union([z.string(), z.literal(false)])
    .optional()
    .describe('Sign with this HMAC key ID of the mapping; false: do not sign.'),
  truncate: z.int().min(0).optional().describe('Keep only the first N bytes of the encoded value.'),
});

const expectedOutput = z.strictObject({
  topic: z.string(),
  key: z.string().nullable().optional(),
  value: z.json().optional(),
  headers: z.record(z.string(), z.string()).optional(),
});

const expectation = z
  .strictObject({
    outputs: z.array(expectedOutput).optional(),
    quarantine: z
      .string()
      .optional()
      .describe('The expected issue code, e.g. trust.signature-invalid.'),
    path: z.string().optional().describe('With quarantine: the field path of that issue.'),
    rule: z.string().optional().describe('With quarantine: validate.invariant: the rule name.'),
    drop: z.string().optional().describe('A part of the expected drop reason.'),
  })
  .refine(
    (e) => [e.outputs, e.quarantine, e.drop].filter((v) => v !== undefined).length === 1,
    'expect exactly one of outputs, quarantine, drop',
  );

export const testFileSpec = z.strictObject({
  mapping: z.string().describe('The mapping file, relative to this file.'),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe('Environment for ${env:…} in the mapping.'),
  defaults: input.default({}).describe('Merged into every case input.'),
  cases: z.array(z.strictObject({ name: z.string(), input, expect: expectation })).min(1),
});

type Input = z.output<typeof input>;
type Expectation = z.output<typeof expectation>;

export interface CaseResult {
  readonly name: string;
  readonly passed: boolean;
  /** Why it failed: one line per difference. */
  readonly differences: readonly string[];
}

export interface FileResult {
  readonly file: string;
  readonly mapping: string;
  readonly cases: readonly CaseResult[];
}

/** Where two JSON-ish values differ, as `path: expected X, got Y` lines. */
export function differences(expected: unknown, actual: unknown, path = ''): string[] {
  if (isDeepStrictEqual(expected, actual)) return [];
  const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));
  if (
    expected !== null &&
    actual !== null &&
    typeof expected === 'object' &&
    typeof actual === 'object' &&
    Array.isArray(expected) === Array.isArray(actual)
  ) {
    const keys = Array.isArray(expected)
      ? Array.from({ length: Math.max(expected.length, (actual as unknown[]).length) }, (_, i) => i)
      : [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
    return keys.flatMap((key) =>
      differences(
        (expected as Record<string | number, unknown>)[key],
        (actual as Record<string | number, unknown>)[key],
        typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`,
      ),
    );
  }
  return [`${path === '' ? 'value' : path}: expected ${show(expected)}, got ${show(actual)}`];
}

function describe(result: PipelineResult): string {
  if (result.kind === 'pass') return `outputs to ${result.outputs.map((o) => o.topic).join(', ')}`;
  if (result.kind === 'drop') return `a drop (${result.reason})`;
  return `quarantine: ${result.issues.map((i) => `${i.code}${i.path ? ` at ${i.path}` : ''} (${i.message})`).join('; ')}`;
}

function check(expect: Expectation, result: PipelineResult): string[] {
  if (expect.quarantine !== undefined) {
    if (result.kind !== 'quarantine')
      return [`expected quarantine ${expect.quarantine}, got ${describe(result)}`];
    const matching = result.issues.filter(
      (i) =>
        i.code === expect.quarantine &&
        (expect.path === undefined || i.path === expect.path) &&
        (expect.rule === undefined || i.rule === expect.rule),
    );
    return matching.length > 0
      ? []
      : [
          `expected quarantine ${expect.quarantine}${expect.path ? ` at ${expect.path}` : ''}${expect.rule ? ` by rule ${expect.rule}` : ''}, got ${describe(result)}`,
        ];
  }
  if (expect.drop !== undefined) {
    if (result.kind !== 'drop')
      return [`expected a drop (${expect.drop}), got ${describe(result)}`];
    return result.reason.includes(expect.drop)
      ? []
      : [`expected a drop reason containing "${expect.drop}", got "${result.reason}"`];
  }
  const wanted = expect.outputs ?? [];
  if (result.kind !== 'pass')
    return [`expected ${wanted.length} output(s), got ${describe(result)}`];
  if (result.outputs.length !== wanted.length)
    return [`expected ${wanted.length} output(s), got ${result.outputs.length}`];
  const found: string[] = [];
  wanted.forEach((want, i) => {
    const got = result.outputs[i];
    if (!got) return;
    const at = `outputs[${i}]`;
    if (got.topic !== want.topic)
      found.push(`${at}.topic: expected ${want.topic}, got ${got.topic}`);
    if (want.key !== undefined) {
      const key = got.key === null ? null : got.key.toString('utf8');
      if (key !== want.key)
        found.push(`${at}.key: expected ${JSON.stringify(want.key)}, got ${JSON.stringify(key)}`);
    }
    if (want.value !== undefined)
      found.push(
        ...differences(want.value, got.payload).map((d) =>
          `${at}.value.${d}`.replace('.value.value:', '.value:'),
        ),
      );
    for (const [name, value] of Object.entries(want.headers ?? {})) {
      if (got.headers[name] !== value)
        found.push(
          `${at}.headers.${name}: expected ${JSON.stringify(value)}, got ${JSON.stringify(got.headers[name])}`,
        );
    }
  });
  return found;
}

/** Runs one test file. Problems in the test file or its mapping throw a MappingError. */
export async function runTestFile(file: string): Promise<FileResult> {
  const loaded = loadYaml(await readText(file, 'test file'), file, testFileSpec, undefined);
  const spec = loaded.value;
  const mappingFile = resolve(dirname(file), spec.mapping);
  const env = { ...process.env, ...spec.env };
  const mapping = loadMappingText(await readText(mappingFile, 'mapping file'), mappingFile, env);
  const registry = new InMemorySchemaRegistry();
  const pipeline = await compileMapping(mapping, { registry, clocks: new InMemoryClocks() });
  const format = mapping.spec.source.format;
  const signature = mapping.spec.trust?.signature;
  const writerSchemas = new Map<string, Type>();

  const cases: CaseResult[] = [];
  for (const [index, testCase] of spec.cases.entries()) {
    const merged: Input = {
      ...spec.defaults,
      ...testCase.input,
      headers: { ...spec.defaults.headers, ...testCase.input.headers },
    };
    let value: Buffer | null;
    if (merged.raw) {
      const { text, hex, base64 } = merged.raw;
      value =
        text !== undefined
          ? Buffer.from(text, 'utf8')
          : hex !== undefined
            ? Buffer.from(hex, 'hex')
            : Buffer.from(base64 ?? '', 'base64');
    } else if (merged.value === undefined || merged.value === null) {
      value = null;
    } else if (format === 'json') {
      value = await encodeValue(format, merged.value, undefined, registry);
    } else {
      const schemaFile = merged.avro?.schema;
      if (schemaFile === undefined)
        throw new Error(
          `${file}: case "${testCase.name}" needs input.avro.schema to encode an Avro value`,
        );
      const full = resolve(dirname(file), schemaFile);
      let writer = writerSchemas.get(full);
      if (!writer) {
        writer = avro.Type.forSchema(
          JSON.parse(await readText(full, 'schema file')) as avro.Schema,
        );
        writerSchemas.set(full, writer);
      }
      try {
        value = await encodeValue(
          format,
          merged.value,
          { writer, schemaId: merged.avro?.schemaId, magic: merged.avro?.magic },
          registry,
        );
      } catch (error) {
        cases.push({
          name: testCase.name,
          passed: false,
          differences: [`input.value does not fit ${schemaFile}: ${(error as Error).message}`],
        });
        continue;
      }
    }
    if (value !== null && merged.truncate !== undefined) value = value.subarray(0, merged.truncate);
    const headers =
      merged.sign !== undefined && merged.sign !== false && signature
        ? signHeaders(signature, value, { ...merged.headers }, merged.sign)
        : { ...merged.headers };
    const record = upstreamRecord({
      topic: merged.topic ?? mapping.spec.source.topics[0] ?? '',
      partition: merged.partition ?? 0,
      offset: String(index),
      timestamp: merged.timestamp ?? '1763800000000',
      key: merged.key,
      value,
      headers,
    });
    const result = await pipeline.process(record);
    const found = check(testCase.expect, result);
    cases.push({ name: testCase.name, passed: found.length === 0, differences: found });
  }
  return { file, mapping: pipeline.ref, cases };
}
