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
 * written, not as their values (no secret goes into it); then the text of every schema file it
 * names. Text that does not parse is digested as it is.
 */
export function mappingDigest(text: string, schemas: readonly string[] = []): string {
  let content: string;
  try {
    content = JSON.stringify(canonical(parse(text)));
  } catch {
    content = text;
  }
  const hash = createHash('sha256').update(content);
  // The schema files it names (source.schema, each target's schema), in order: editing one
  // changes what the mapping does as much as editing the mapping does.
  for (const schema of schemas) hash.update('\0').update(schema);
  return hash.digest('hex').slice(0, LENGTH);
}

/** The schema files a mapping names, as written (relative to the mapping file), in order. */
export function schemaFilesOf(spec: {
  readonly source: { readonly schema?: string | undefined };
  readonly events: readonly {
    readonly to?:
      | { readonly schema?: string | undefined }
      | readonly { readonly schema?: string | undefined }[]
      | undefined;
  }[];
}): string[] {
  const files: string[] = [];
  if (spec.source.schema !== undefined) files.push(spec.source.schema);
  for (const event of spec.events) {
    const targets = event.to === undefined ? [] : Array.isArray(event.to) ? event.to : [event.to];
    for (const target of targets as readonly { readonly schema?: string | undefined }[])
      if (target.schema !== undefined) files.push(target.schema);
  }
  return files;
}
