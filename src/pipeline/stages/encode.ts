import type { Type } from 'avsc';
import { issue } from '../../core/issues.js';
import { pass, quarantine, quarantineAll, type Verdict } from '../../core/verdict.js';
import { getPath, type CompiledPath } from '../paths.js';
import { schemaMismatches } from './validate.js';

/**
 * encode — the translated record to bytes for one target: JSON, or Avro in the Confluent
 * wire format (0x00, the schema ID registered at startup under `<topic>-value`, the body).
 */
export interface EncodeTarget {
  readonly topic: string;
  readonly format: 'avro' | 'json';
  readonly schema: Type | undefined;
  readonly schemaId: number | undefined;
  readonly key: CompiledPath | undefined;
}

export interface Encoded {
  readonly key: Buffer | null;
  readonly value: Buffer;
}

export function encodeRecord(
  target: EncodeTarget,
  payload: Record<string, unknown>,
): Verdict<Encoded> {
  let key: Buffer | null = null;
  if (target.key) {
    const raw = getPath(payload, target.key);
    if (raw !== undefined && raw !== null)
      key = Buffer.from(typeof raw === 'string' ? raw : JSON.stringify(raw), 'utf8');
  }
  if (target.format === 'json' || !target.schema || target.schemaId === undefined) {
    return pass({ key, value: Buffer.from(JSON.stringify(payload), 'utf8') });
  }
  let body: Buffer;
  try {
    body = target.schema.toBuffer(payload);
  } catch (error) {
    // Only now pay for the slow check that names the fields.
    const found = schemaMismatches(target.schema, payload);
    if (found.length > 0) return quarantineAll(found);
    return quarantine(
      issue(
        'encode.schema-mismatch',
        '',
        `cannot encode for ${target.topic}: ${(error as Error).message.slice(0, 200)}`,
      ),
    );
  }
  const value = Buffer.allocUnsafe(5 + body.length);
  value[0] = 0;
  value.writeInt32BE(target.schemaId, 1);
  body.copy(value, 5);
  return pass({ key, value });
}
