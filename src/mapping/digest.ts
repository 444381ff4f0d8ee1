import { createHash } from 'node:crypto';
import { parse } from 'yaml';

/** Hex characters of the digest kept: 64 bits, plenty to tell versions of one mapping apart. */
const LENGTH = 16;

/** Objects as sorted [key, value] pairs: no key order, and no key (`__proto__`) is special. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return ['list', value.map(canonical)];
  if (value !== null && typeof value === 'object')
    return [
      'map',
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    ];
  return value;
}

/**
 * The digest of a mapping file's text: SHA-256 of its YAML content as canonical JSON (keys
 * sorted), so comments, layout and key order do not count, and `${env:…}` references count as
 * written, not as their values (no secret goes into it). Text that does not parse is digested
 * as it is.
 */
export function mappingDigest(text: string): string {
  let content: string;
  try {
    content = JSON.stringify(canonical(parse(text)));
  } catch {
    content = text;
  }
  return createHash('sha256').update(content).digest('hex').slice(0, LENGTH);
}
