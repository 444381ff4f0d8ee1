import type { Type } from 'avsc';
import type { Headers, SourceRecord } from '../core/records.js';
import type { SchemaRegistryPort } from '../pipeline/ports.js';
import { hmacSignature } from '../pipeline/stages/trust.js';
import type { MappingSpec } from './spec.js';

/**
 * An upstream record as a person gives it — a case of a test file (`membrane test`) or one
 * record on the command line (`membrane try`) — made into the bytes and headers a producer
 * would send: the value encoded as the mapping reads it, the headers signed like the
 * producer signs them. Both commands build their records here, so a record behaves the same
 * in a test file and in `try`.
 */

export type SourceFormat = MappingSpec['source']['format'];
export type SignatureSpec = NonNullable<NonNullable<MappingSpec['trust']>['signature']>;

/** How an Avro value is written: its writer schema, and what the wire header says. */
export interface AvroWriting {
  readonly writer: Type;
  /** The schema ID in the wire header; default: the writer's ID in the registry given. */
  readonly schemaId?: number | undefined;
  /** The first byte of the wire header; default 0 (the Confluent magic byte). */
  readonly magic?: number | undefined;
}

/** The subject upstream writer schemas are registered under in an in-memory registry. */
export const UPSTREAM_SUBJECT = 'upstream-value';

/**
 * A value (not null) encoded as a producer of `format` writes it: JSON as its text; Avro with
 * the writer schema, in the Confluent wire format (magic byte, schema ID, body) for `avro`,
 * the body alone for `avro-binary`. Throws avsc's own error when the value does not fit the
 * writer schema (before anything is registered).
 */
export async function encodeValue(
  format: SourceFormat,
  value: unknown,
  avro: AvroWriting | undefined,
  registry: SchemaRegistryPort,
): Promise<Buffer> {
  if (format === 'json') return Buffer.from(JSON.stringify(value), 'utf8');
  if (avro === undefined) throw new TypeError(`encodeValue: ${format} needs a writer schema`);
  const body = avro.writer.toBuffer(value);
  if (format === 'avro-binary') return body;
  const id = avro.schemaId ?? (await registry.register(UPSTREAM_SUBJECT, avro.writer));
  const framed = Buffer.alloc(5 + body.length);
  framed[0] = avro.magic ?? 0;
  framed.writeInt32BE(id, 1);
  body.copy(framed, 5);
  return framed;
}

/**
 * `headers` with the signature of `value` by the mapping's key `keyId` added, as the
 * producer sends it (HMAC-SHA256 over the value, then each covered header: see trust.ts) —
 * the signature header in base64 and the key-ID header. A key the mapping does not have
 * signs with a secret no mapping has, so that the record says `trust.unknown-key`.
 */
export function signHeaders(
  signature: SignatureSpec,
  value: Buffer | null,
  headers: Readonly<Record<string, string>>,
  keyId: string,
): Record<string, string> {
  const secret = Object.hasOwn(signature.keys, keyId)
    ? (signature.keys[keyId] as string)
    : `not-a-configured-key-${keyId}`;
  const covered = signature.covers.map((name) => ({
    name,
    value: Object.hasOwn(headers, name) ? (headers[name] as string) : '',
  }));
  return {
    ...headers,
    [signature.header]: hmacSignature(secret, value ?? Buffer.alloc(0), covered).toString('base64'),
    [signature.keyIdHeader]: keyId,
  };
}

/** An upstream record at the given coordinates; the key as UTF-8 text, or none. */
export function upstreamRecord(record: {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  readonly key: string | null | undefined;
  readonly value: Buffer | null;
  readonly headers: Headers;
}): SourceRecord {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestamp,
    key: record.key === undefined || record.key === null ? null : Buffer.from(record.key, 'utf8'),
    value: record.value,
    headers: record.headers,
  };
}
