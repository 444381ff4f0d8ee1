import { isUtf8 } from 'node:buffer';
import type { Type } from 'avsc';
import { MembraneError } from '../../core/errors.js';
import { issue } from '../../core/issues.js';
import { setOwn } from '../../core/objects.js';
import type { SourceRecord } from '../../core/records.js';
import { pass, quarantine, type Verdict } from '../../core/verdict.js';
import {
  compileAvroGuard,
  describeError,
  isForbiddenKey,
  readerSchemaRefusal,
  type AvroGuard,
  type SchemaRefusal,
} from '../avro/guard.js';
import type { SchemaRegistryPort } from '../ports.js';

/**
 * decode — bytes to a plain record. JSON (strict UTF-8, depth-limited, no prototype keys),
 * Avro in the Confluent wire format through the registry (writer schemas resolved to an
 * optional reader schema), or plain Avro with a local schema. Avro bodies are checked by a
 * guard compiled once per writer schema (src/pipeline/avro/guard.ts) before avsc reads them:
 * no block count, nesting or zero-size type can make a small record cost much.
 */
export type DecodedRecord = Record<string, unknown>;
export type DecodeStage = (
  record: SourceRecord,
) => Verdict<DecodedRecord> | Promise<Verdict<DecodedRecord>>;

export const MAX_DEPTH = 64;

/**
 * What a registry port rejects `schemaById` with when the registry does hold a schema under
 * the ID but avsc cannot parse it (a default of the wrong type, which registries accept and
 * avsc refuses, a schema reference membrane cannot resolve…). That is the record's fault,
 * not the registry's: the decode stage turns it into a `decode.unparseable-schema`
 * quarantine and never lets it reach the runtime. It is not retriable — the schema under an
 * ID never changes — so a port may cache it per ID like a parsed schema.
 *
 * (A rejection rather than a third kind of answer because `SchemaRegistryPort.schemaById`
 * answers `Type | undefined`; other callers, such as `quarantine show`, treat it as any
 * lookup failure.)
 */
export class UnparseableSchemaError extends MembraneError {
  override readonly name = 'UnparseableSchemaError';
  static readonly CODE = 'registry.unparseable-schema';

  constructor(
    /** The schema ID in the record's wire-format header. */
    readonly schemaId: number,
    /** avsc's own words. */
    readonly reason: string,
    /** The schema field the problem is in (`inner.qty`), '' when it cannot be told. */
    readonly path = '',
    cause?: unknown,
  ) {
    super(
      UnparseableSchemaError.CODE,
      `Schema ${schemaId} from the registry cannot be parsed: ${reason}.`,
      { retriable: false, cause },
    );
  }
}

type Quarantined = ReturnType<typeof quarantine>;

/** The quarantine for records written with an unparseable schema. */
function unparseable(error: UnparseableSchemaError): Quarantined {
  return quarantine(
    issue(
      'decode.unparseable-schema',
      error.path,
      `writer schema ${error.schemaId} cannot be parsed: ${error.reason.slice(0, 200)}`,
    ),
  );
}
/**
 * Depth and forbidden keys, without recursion (a hostile record may nest 10,000 deep). Keys
 * are checked as JSON.parse gave them, whatever their spelling in the text (`"\u005f_proto__"`
 * is `__proto__`). JSON.parse itself defines `__proto__` as an own property; the check keeps
 * such keys from every later stage, which may copy them by assignment.
 */
function inspect(root: unknown): Verdict<undefined> {
  const stack: { value: unknown; depth: number; path: string }[] = [
    { value: root, depth: 1, path: '' },
  ];
  while (stack.length > 0) {
    const { value, depth, path } = stack.pop() as { value: unknown; depth: number; path: string };
    if (depth > MAX_DEPTH) {
      return quarantine(issue('decode.too-deep', path, `nested deeper than ${MAX_DEPTH} levels`));
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item: unknown = value[i];
        if (item !== null && typeof item === 'object')
          stack.push({ value: item, depth: depth + 1, path: `${path}[${i}]` });
      }
    } else if (value !== null && typeof value === 'object') {
      for (const key of Object.keys(value)) {
        const childPath = path === '' ? key : `${path}.${key}`;
        if (isForbiddenKey(key)) {
          return quarantine(
            issue(
              'decode.forbidden-key',
              childPath,
              `key ${key} is not allowed (prototype pollution)`,
            ),
          );
        }
        const item = (value as Record<string, unknown>)[key];
        if (item !== null && typeof item === 'object')
          stack.push({ value: item, depth: depth + 1, path: childPath });
      }
    }
  }
  return pass(undefined);
}

export function decodeJson(bytes: Buffer): Verdict<DecodedRecord> {
  // Native validation, then a plain decode: faster than a fatal TextDecoder.
  if (!isUtf8(bytes))
    return quarantine(issue('decode.invalid-utf8', '', 'the value is not valid UTF-8'));
  const text = bytes.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return quarantine(issue('decode.invalid-json', '', (error as Error).message.slice(0, 200)));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return quarantine(
      issue(
        'decode.not-an-object',
        '',
        `the value is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}, not an object`,
      ),
    );
  }
  const checked = inspect(value);
  return checked.kind === 'pass' ? pass(value as DecodedRecord) : checked;
}

/**
 * Plain object copy of an avsc value (records are class instances). Keys become own
 * properties: `__proto__` (which the guard refuses before avsc reads a body) would be
 * defined, never assigned, so no copy gets a prototype other than Object.prototype.
 */
function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      setOwn(result, key, plain((value as Record<string, unknown>)[key]));
    }
    return result;
  }
  return value;
}

function decodeAvroBody(
  guard: AvroGuard,
  type: Type,
  bytes: Buffer,
  offset: number,
  resolver?: unknown,
): Verdict<DecodedRecord> {
  if (!guard.bounded) {
    const refused = guard.check(bytes, offset);
    if (refused !== undefined) return quarantine(refused);
  }
  let result: { value: unknown; offset: number };
  try {
    result = (
      type.decode as (
        buf: Buffer,
        pos: number,
        resolver?: unknown,
      ) => { value: unknown; offset: number }
    )(bytes, offset, resolver);
  } catch (error) {
    return quarantine(
      issue(
        'decode.invalid-avro',
        '',
        `not valid Avro for its schema: ${(error as Error).message.slice(0, 200)}`,
      ),
    );
  }
  if (result.offset === -1)
    return quarantine(issue('decode.truncated', '', 'the Avro value ends early'));
  if (result.offset !== bytes.length) {
    return quarantine(
      issue(
        'decode.invalid-avro',
        '',
        `${bytes.length - result.offset} bytes left over after the Avro value`,
      ),
    );
  }
  const value = plain(result.value);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return quarantine(issue('decode.not-an-object', '', 'the Avro value is not a record'));
  }
  return pass(value as DecodedRecord);
}

/** Why a local schema (`avro-binary`'s, or a reader schema) cannot be used: a startup error. */
function refusedLocalSchema(role: string, refusal: SchemaRefusal): Error {
  const where = refusal.path === '' ? '' : ` at ${refusal.path}`;
  return new Error(`the ${role} schema${where} ${refusal.message} (${refusal.code})`);
}

/** The quarantine for every record written with a writer schema the guard refuses. */
function refusedWriter(id: number, refusal: SchemaRefusal): Quarantined {
  return quarantine(
    issue(refusal.code, refusal.path, `writer schema ${id} ${refusal.message.slice(0, 200)}`),
  );
}

function isRefusal(value: AvroGuard | SchemaRefusal): value is SchemaRefusal {
  return 'code' in value;
}

export function createDecodeStage(
  format: 'json' | 'avro' | 'avro-binary',
  options: { readonly registry: SchemaRegistryPort; readonly reader: Type | undefined },
): DecodeStage {
  const empty = quarantine(
    issue('decode.empty-value', '', 'the value is null (a tombstone) or empty'),
  );
  if (format === 'json') {
    return (record) =>
      record.value === null || record.value.length === 0 ? empty : decodeJson(record.value);
  }
  if (format === 'avro-binary') {
    const reader = options.reader;
    if (!reader) throw new Error('avro-binary needs a schema');
    // The local schema is the writer's: refused at startup, not per record.
    const guard = compileAvroGuard(reader, MAX_DEPTH);
    if (isRefusal(guard)) throw refusedLocalSchema('avro-binary', guard);
    return (record) =>
      record.value === null || record.value.length === 0
        ? empty
        : decodeAvroBody(guard, reader, record.value, 0);
  }
  // Confluent wire format: 0x00, a 4-byte big-endian schema ID, the Avro body.
  // Per ID: the writer (its guard, and its resolver), or the quarantine every record written
  // with it gets (an unparseable schema, one the guard refuses, or one that cannot be read as
  // the reader schema). Both are final: the schema under an ID never changes.
  type Writer =
    { readonly type: Type; readonly guard: AvroGuard; readonly resolver: unknown } | Quarantined;
  const writers = new Map<number, Writer>();
  const { registry, reader } = options;
  if (reader) {
    const refusal = readerSchemaRefusal(reader);
    if (refusal) throw refusedLocalSchema('reader', refusal);
  }
  const decodeWith = (bytes: Buffer, writer: Writer): Verdict<DecodedRecord> => {
    if ('kind' in writer) return writer;
    return writer.resolver === undefined
      ? decodeAvroBody(writer.guard, writer.type, bytes, 5)
      : decodeAvroBody(writer.guard, reader as Type, bytes, 5, writer.resolver);
  };
  // Everything here is driven by the writer schema, which the producer chose: whatever it
  // throws is that schema's problem (a quarantine for its records), never the runtime's.
  const writerFor = (id: number, type: Type): Writer => {
    let guard: AvroGuard | SchemaRefusal;
    try {
      guard = compileAvroGuard(type, MAX_DEPTH);
    } catch (error) {
      guard = {
        code: 'decode.unparseable-schema',
        path: '',
        message: `cannot be checked: ${describeError(error)}`,
      };
    }
    if (isRefusal(guard)) return refusedWriter(id, guard);
    if (!reader) return { type, guard, resolver: undefined };
    try {
      return { type, guard, resolver: reader.createResolver(type) };
    } catch (error) {
      return quarantine(
        issue(
          'decode.unknown-schema',
          '',
          `writer schema ${id} cannot be read as the reader schema: ${describeError(error)}`,
        ),
      );
    }
  };
  return (record) => {
    const bytes = record.value;
    if (bytes === null || bytes.length === 0) return empty;
    if (bytes[0] !== 0) {
      return quarantine(
        issue(
          'decode.wrong-magic-byte',
          '',
          `first byte is 0x${(bytes[0] ?? 0).toString(16).padStart(2, '0')}, not the 0x00 of the Confluent wire format`,
        ),
      );
    }
    if (bytes.length < 5)
      return quarantine(
        issue('decode.truncated', '', 'shorter than the 5-byte wire-format header'),
      );
    const id = bytes.readInt32BE(1);
    const cached = writers.get(id);
    if (cached !== undefined) return decodeWith(bytes, cached);
    return registry.schemaById(id).then(
      (type) => {
        // Unknown IDs are not cached: a lagging registry may learn them later.
        if (type === undefined)
          return quarantine(
            issue('decode.unknown-schema', '', `schema ID ${id} is not in the registry`),
          );
        const writer = writerFor(id, type);
        writers.set(id, writer);
        return decodeWith(bytes, writer);
      },
      (error: unknown) => {
        // The registry answered, with a schema avsc refuses: the record's fault. Anything
        // else (an outage, a broken answer) stays an exception for the runtime.
        if (!(error instanceof UnparseableSchemaError)) throw error;
        const verdict = unparseable(error);
        writers.set(id, verdict);
        return verdict;
      },
    );
  };
}
