import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import avro, { type Type } from 'avsc';
import { isMembraneError, messageOf } from '../core/errors.js';
import type { Issue } from '../core/issues.js';
import type { OutputRecord, PipelineResult } from '../core/records.js';
import { InMemoryClocks, InMemorySchemaRegistry } from '../pipeline/ports.js';
import { compileMapping } from './compile.js';
import { loadMappingText, loadYaml, MappingError, readText, type MappingProblem } from './load.js';
import { encodeValue, signHeaders, upstreamRecord, type SourceFormat } from './record-input.js';
import { childPath, compareValues, show } from './testing/compare.js';
import {
  testFileSpec,
  type CaseInput,
  type ExpectedOutput,
  type Expectation,
} from './testing/spec.js';

export { testFileSpec } from './testing/spec.js';

/**
 * `membrane test`: test files beside mappings (`*.test.yaml`, schema in testing/spec.ts) give
 * upstream records and what must come out — outputs (topic, key, the whole value or the fields
 * it contains, selected headers), a quarantine code, or a drop. Runs the real compiled
 * pipeline with an in-memory registry and clocks. Reporters: testing/reporters.ts.
 */

export interface CaseResult {
  readonly name: string;
  /** The line of the case in the test file (1-based). */
  readonly line: number;
  readonly passed: boolean;
  /** Why it failed: one line per difference, naming the path in the expectation. */
  readonly differences: readonly string[];
  readonly durationMs: number;
}

export interface FileResult {
  readonly file: string;
  /** name@version of the mapping under test. */
  readonly mapping: string;
  readonly cases: readonly CaseResult[];
}

/** Why a test file could not run at all: its problems (file:line:col) or an error's sentence. */
export interface FileError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly problems: readonly MappingProblem[];
}

/** One test file's outcome, whether it ran or not: what the reporters print. */
export interface FileReport {
  readonly file: string;
  readonly mapping: string | null;
  readonly cases: readonly CaseResult[];
  readonly error: FileError | null;
  readonly durationMs: number;
}

function describe(result: PipelineResult): string {
  if (result.kind === 'pass') return `outputs to ${result.outputs.map((o) => o.topic).join(', ')}`;
  if (result.kind === 'drop') return `a drop (${result.reason})`;
  return `quarantine ${result.issues.map(describeIssue).join('; ')}`;
}

function describeIssue(i: Issue): string {
  return `${i.code}${i.path ? ` at ${i.path}` : ''}${i.rule ? ` by rule ${i.rule}` : ''} (${i.message})`;
}

/**
 * The quarantine expectation, its fields given beside `quarantine:`, inside it, or some of
 * each (`quarantine: { code }` with `rule:` beside): all of them count, as the README says
 * both places mean the same. One field in both places is refused by the test-file schema.
 */
function quarantineOf(expect: Expectation):
  | {
      code: string;
      path?: string | undefined;
      rule?: string | undefined;
      message?: string | undefined;
    }
  | undefined {
  const q = expect.quarantine;
  if (q === undefined) return undefined;
  const inside = typeof q === 'object' ? q : { code: q };
  return {
    code: inside.code,
    path: inside.path ?? expect.path,
    rule: inside.rule ?? expect.rule,
    message: inside.message ?? expect.message,
  };
}

function checkOutput(want: ExpectedOutput, got: OutputRecord, at: string): string[] {
  const found: string[] = [];
  if (got.topic !== want.topic)
    found.push(`${at}.topic: expected ${show(want.topic)}, got ${show(got.topic)}`);
  if (want.key !== undefined) {
    const key = got.key === null ? null : got.key.toString('utf8');
    if (key !== want.key) found.push(`${at}.key: expected ${show(want.key)}, got ${show(key)}`);
  }
  if (want.value !== undefined)
    found.push(...compareValues(want.value, got.payload, `${at}.value`, 'exact'));
  if (want.contains !== undefined)
    found.push(...compareValues(want.contains, got.payload, `${at}.value`, 'contains'));
  for (const [name, value] of Object.entries(want.headers ?? {})) {
    const actual = Object.hasOwn(got.headers, name) ? got.headers[name] : undefined;
    const where = childPath(`${at}.headers`, name);
    if (value === null) {
      if (actual !== undefined) found.push(`${where}: expected no header, got ${show(actual)}`);
    } else if (actual !== value) {
      found.push(`${where}: expected ${show(value)}, got ${show(actual)}`);
    }
  }
  return found;
}

function check(expect: Expectation, result: PipelineResult): string[] {
  const quarantine = quarantineOf(expect);
  if (quarantine !== undefined) {
    const { code, path, rule, message } = quarantine;
    const wanted = `quarantine ${code}${path !== undefined ? ` at ${path === '' ? "''" : path}` : ''}${rule !== undefined ? ` by rule ${rule}` : ''}${message !== undefined ? ` with a message containing ${show(message)}` : ''}`;
    if (result.kind !== 'quarantine') return [`expected ${wanted}, got ${describe(result)}`];
    const matching = result.issues.some(
      (i) =>
        i.code === code &&
        (path === undefined || i.path === path) &&
        (rule === undefined || i.rule === rule) &&
        (message === undefined || i.message.includes(message)),
    );
    return matching ? [] : [`expected ${wanted}, got ${describe(result)}`];
  }
  if (expect.drop !== undefined) {
    if (result.kind !== 'drop')
      return [`expected a drop (${expect.drop}), got ${describe(result)}`];
    return result.reason.includes(expect.drop)
      ? []
      : [`expected a drop reason containing ${show(expect.drop)}, got ${show(result.reason)}`];
  }
  const wanted = expect.outputs ?? [];
  const count = (n: number): string => (n === 1 ? '1 output' : `${n} outputs`);
  if (result.kind !== 'pass') return [`expected ${count(wanted.length)}, got ${describe(result)}`];
  if (result.outputs.length !== wanted.length)
    return [
      result.outputs.length === 0
        ? `expected ${count(wanted.length)}, got none`
        : `expected ${count(wanted.length)}, got ${result.outputs.length} (to ${result.outputs.map((o) => o.topic).join(', ')})`,
    ];
  return wanted.flatMap((want, i) => {
    const got = result.outputs[i];
    return got ? checkOutput(want, got, `outputs[${i}]`) : [];
  });
}

/** A problem with a case's input, which fails that case (not the file). */
class InputProblem extends Error {}

/** The value bytes of a case, as the mapping's source format reads them. */
async function valueOf(
  merged: CaseInput,
  format: SourceFormat,
  testDir: string,
  registry: InMemorySchemaRegistry,
  writers: Map<string, Type>,
): Promise<Buffer | null> {
  if (merged.raw) {
    const { text, hex, base64 } = merged.raw;
    if (text !== undefined) return Buffer.from(text, 'utf8');
    if (hex !== undefined) return Buffer.from(hex, 'hex');
    return Buffer.from(base64 ?? '', 'base64');
  }
  if (merged.value === undefined || merged.value === null) return null;
  if (format === 'json') return encodeValue(format, merged.value, undefined, registry);
  const schemaFile = merged.avro?.schema;
  if (schemaFile === undefined)
    throw new InputProblem(
      'input.avro.schema: is required to write an Avro value (the writer schema .avsc, relative to the test file; or give raw bytes)',
    );
  const full = resolve(testDir, schemaFile);
  let writer = writers.get(full);
  if (!writer) {
    try {
      writer = avro.Type.forSchema(JSON.parse(await readText(full, 'schema file')) as avro.Schema);
    } catch (error) {
      throw new InputProblem(
        `input.avro.schema: ${schemaFile} is not a readable Avro schema: ${messageOf(error)}`,
      );
    }
    writers.set(full, writer);
  }
  try {
    return await encodeValue(
      format,
      merged.value,
      { writer, schemaId: merged.avro?.schemaId, magic: merged.avro?.magic },
      registry,
    );
  } catch (error) {
    throw new InputProblem(`input.value does not fit ${schemaFile}: ${messageOf(error)}`);
  }
}

/** Runs one test file. Problems in the test file or its mapping throw a MappingError. */
export async function runTestFile(file: string): Promise<FileResult> {
  const loaded = loadYaml(await readText(file, 'test file'), file, testFileSpec, undefined);
  const spec = loaded.value;
  const testDir = dirname(file);
  const mappingFile = resolve(testDir, spec.mapping);
  const env = { ...process.env, ...spec.env };
  const mapping = loadMappingText(await readText(mappingFile, 'mapping file'), mappingFile, env);
  const registry = new InMemorySchemaRegistry();
  const pipeline = await compileMapping(mapping, { registry, clocks: new InMemoryClocks() });
  const format = mapping.spec.source.format;
  const signature = mapping.spec.trust?.signature;
  const writers = new Map<string, Type>();

  const cases: CaseResult[] = [];
  for (const [index, testCase] of spec.cases.entries()) {
    const started = performance.now();
    const { line } = loaded.locate(['cases', index]);
    const done = (differences: readonly string[]): void => {
      cases.push({
        name: testCase.name,
        line,
        passed: differences.length === 0,
        differences,
        durationMs: performance.now() - started,
      });
    };
    const merged: CaseInput = {
      ...spec.defaults,
      ...testCase.input,
      headers: { ...spec.defaults.headers, ...testCase.input.headers },
    };
    let value: Buffer | null;
    try {
      value = await valueOf(merged, format, testDir, registry, writers);
    } catch (error) {
      if (!(error instanceof InputProblem)) throw error;
      done([error.message]);
      continue;
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
    done(check(testCase.expect, await pipeline.process(record)));
  }
  return { file, mapping: pipeline.ref, cases };
}

/**
 * Runs test files one after the other. A file that cannot run (its YAML, its schema, its
 * mapping, a file it names) is reported with its problems, and the others still run; only a
 * bug throws.
 */
export async function runTestFiles(files: readonly string[]): Promise<FileReport[]> {
  const reports: FileReport[] = [];
  for (const file of files) {
    const started = performance.now();
    try {
      const result = await runTestFile(file);
      reports.push({ ...result, error: null, durationMs: performance.now() - started });
    } catch (error) {
      if (!isMembraneError(error)) throw error;
      const problems = error instanceof MappingError ? error.problems : [];
      reports.push({
        file,
        mapping: null,
        cases: [],
        error:
          error.hint === undefined
            ? { code: error.code, message: error.message, problems }
            : { code: error.code, message: error.message, hint: error.hint, problems },
        durationMs: performance.now() - started,
      });
    }
  }
  return reports;
}
