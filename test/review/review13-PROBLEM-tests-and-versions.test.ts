import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { mappingDigest } from '../../src/mapping/digest.js';
import { runCli } from '../support/cli.js';

const env = { ...process.env, NO_COLOR: '1' };

describe(
  'review13 PROBLEM: membrane test and the mapping-version check',
  { timeout: 180_000 },
  () => {
    /**
     * README: the path, rule and message "go beside `quarantine:` or inside it — both
     * mean the same". Mixed (`quarantine: { code }` with `rule:` beside it) is accepted by the
     * test-file schema, and the fields beside are silently ignored: a wrong rule passes.
     */
    it('PROBLEM: rule/message beside an object-form quarantine are ignored, so a wrong expectation passes', async () => {
      const root = projectRoot();
      const dir = await mkdtemp(join(tmpdir(), 'review13-'));
      const mapping = (
        await readFile(join(root, 'mappings/legacy-orders.yaml'), 'utf8')
      ).replaceAll('../schemas/', `${join(root, 'schemas')}/`);
      await writeFile(join(dir, 'legacy-orders.yaml'), mapping);
      const input = `{ event_id: e-10, type: C, schema_version: 2, order_id: '1', customer_no: K, total_amount: '0.00', created: 21.11.2026 14:05, status: N, line_items: [{ sku: A, qty: '1', unit_price: '0' }] }`;
      await writeFile(
        join(dir, 'mixed.test.yaml'),
        `mapping: legacy-orders.yaml
env: { ERP_HMAC_KEY_1: demo-erp-key-1, ERP_HMAC_KEY_2: demo-erp-key-2 }
defaults: { topic: erp.orders, headers: { x-source-system: legacy-erp }, sign: k1 }
cases:
  - name: mixed form with the wrong rule and a message that is not there
    input: { value: ${input} }
    expect: { quarantine: { code: validate.invariant }, rule: has-lines, message: 'no such text' }
  - name: the same expectation beside quarantine
    input: { value: ${input} }
    expect: { quarantine: validate.invariant, rule: has-lines }
`,
      );
      const result = await runCli(['test', join(dir, 'mixed.test.yaml')], env);
      expect(result.stdout).toContain(
        '✓ mixed form with the wrong rule and a message that is not there',
      );
      expect(result.stdout).toContain('✗ the same expectation beside quarantine');
      expect(result.stdout).toContain('1 passed, 1 failed');
    });

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
