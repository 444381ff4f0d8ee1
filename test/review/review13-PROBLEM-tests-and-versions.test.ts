import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mappingDigest } from '../../src/mapping/digest.js';
import { runCli } from '../support/cli.js';

const env = { ...process.env, NO_COLOR: '1' };

describe(
  'review13 PROBLEM: membrane test and the mapping-version check',
  { timeout: 180_000 },
  () => {
    /**
     * The digest members publish covers the mapping file's text only. A schema file the mapping
     * names (`to.schema`, `source.schema`) changes what the mapping does — the usual fix for
     * encode.schema-mismatch is the schema — but not the digest, so `quarantine replay` with an
     * edited schema and the same mapping version is not refused while the live members keep the
     * old schema.
     */
    it('PROBLEM: the same mapping text with a different to.schema has the same digest, and translates differently', async () => {
      const text = `name: crm-schema
version: 1
source:
  system: crm
  topics: [crm.contacts]
  format: json
identity:
  event: event_id
events:
  - name: c
    to: { topic: crm.c.v1, schema: out.avsc }
    map:
      id: contact_id
`;
      const schema = (type: string): string =>
        JSON.stringify({ type: 'record', name: 'Out', fields: [{ name: 'id', type }] });
      const base = await mkdtemp(join(tmpdir(), 'review13-'));
      const results: string[] = [];
      const digests: string[] = [];
      for (const [name, type] of [
        ['live', 'int'],
        ['fixed', 'string'],
      ] as const) {
        const dir = join(base, name);
        await mkdir(dir);
        await writeFile(join(dir, 'crm.yaml'), text);
        await writeFile(join(dir, 'out.avsc'), schema(type));
        await writeFile(join(dir, 'v.json'), JSON.stringify({ event_id: 'e', contact_id: 'c-1' }));
        const tried = await runCli(['try', join(dir, 'crm.yaml'), join(dir, 'v.json')], env);
        results.push(tried.stdout);
        digests.push(mappingDigest(await readFile(join(dir, 'crm.yaml'), 'utf8')));
      }
      expect(results[0]).toContain('encode.schema-mismatch');
      expect(results[1]).toContain('output 1 of 1: crm.c.v1');
      // One digest for both: versionMismatches (src/app/versions.ts) sees no difference.
      expect(digests[0]).toBe(digests[1]);
    });
  },
);
