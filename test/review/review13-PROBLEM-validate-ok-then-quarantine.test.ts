import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/**
 * review13: mistakes `membrane validate` says "ok" to that then quarantine records at run time
 * (and one correct mapping it refuses). Each case writes a small mapping for an invented CRM
 * upstream, runs `validate`, then `membrane try` with one record.
 *
 * Root cause of the first two: the checker types JSON Schema `number`, Avro `float`/`double`,
 * `as: double` and `unit` as CEL `double`, but at run time `toCel` (src/pipeline/cel.ts) turns
 * every whole JS number into a BigInt, i.e. a CEL `int`. So double arithmetic that
 * type-checks (`score * 1.5`) fails with "no such overload: dyn<int> * double" for exactly the
 * records whose value happens to be whole (10, 10.0, 1000 g → 1 kg) and passes for the others:
 * a test with 10.5 passes, production quarantines every round number.
 */
const env = { ...process.env, NO_COLOR: '1' };
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'review13-'));
  await writeFile(
    join(dir, 'contact.json'),
    JSON.stringify({
      type: 'object',
      properties: {
        event_id: { type: 'string' },
        contact_id: { type: 'string' },
        rec_type: { type: 'string' },
        score: { type: 'number' },
      },
    }),
  );
  await writeFile(
    join(dir, 'contact.avsc'),
    JSON.stringify({
      type: 'record',
      name: 'Contact',
      fields: [
        { name: 'event_id', type: 'string' },
        { name: 'score', type: 'double' },
        { name: 'weight', type: 'float' },
      ],
    }),
  );
});

async function mapping(name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

async function value(name: string, json: unknown): Promise<string> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(json));
  return file;
}

describe(
  'review13 PROBLEM: validate says ok, then records quarantine',
  { timeout: 180_000 },
  () => {
    it('PROBLEM: upcast compute expressions are not type-checked (misspelled field, bare word, headers)', async () => {
      const file = await mapping(
        'upcast',
        `name: crm-up
version: 1
source:
  system: crm
  topics: [crm.contacts]
  format: json
identity:
  event: event_id
upcast:
  field: v
  current: 2
  steps:
    '1':
      compute:
        balance: 'double(balance_cnets) / 100.0'
        kind: 'rec_type == U ? "update" : "other"'
        via: 'headers["x-source-system"]'
events:
  - name: c
    when: record.kind == "update"
    to: { topic: crm.c.v1, format: json }
    map:
      balance: { from: balance, as: double }
      cents: balance_cents
`,
      );
      expect((await runCli(['validate', file], env)).stdout).toContain('1 valid, 0 invalid');
      const tried = await runCli(
        [
          'try',
          file,
          await value('up', { event_id: 'e', v: 1, balance_cents: '1234', rec_type: 'U' }),
        ],
        env,
      );
      expect(tried.code).toBe(1);
      expect(tried.stdout).toContain('quarantined by upcast: 3 issues');
      expect(tried.stdout).toContain('failed: the record has no field balance_cnets');
      expect(tried.stdout).toContain('failed: the record has no field U');
      expect(tried.stdout).toContain('failed: the record has no field headers');
    });

    it('PROBLEM (false positive): inside each without a schema, an expr may not read an element field no sibling reads', async () => {
      const text = (extra: string): string => `name: crm-each
version: 1
source:
  system: crm
  topics: [crm.contacts]
  format: json
identity:
  event: event_id
events:
  - name: c
    to: { topic: crm.c.v1, format: json }
    map:
      addresses:
        each: addresses
        map:
          city: city${extra}
          isPrimary: { expr: 'primary == true' }
`;
      const refused = await runCli(['validate', await mapping('each', text(''))], env);
      expect(refused.stdout).toContain(
        'events[0].map.addresses.map.isPrimary.expr: primary is not a field of an element of addresses',
      );
      // The same expression runs fine once a sibling happens to read the field (changing the output).
      const file = await mapping('each2', text('\n          primary: primary'));
      const tried = await runCli(
        [
          'try',
          file,
          await value('each', { event_id: 'e', addresses: [{ city: 'Köln', primary: true }] }),
        ],
        env,
      );
      expect(tried.code).toBe(0);
      expect(tried.stdout).toContain('"isPrimary": true');
    });

    it('PROBLEM: validate of a path that does not exist is reported as a bug (exit 70, stack trace)', async () => {
      const result = await runCli(['validate', join(dir, 'no-such-mapping.yaml')], env);
      expect(result.code).toBe(70);
      expect(result.stderr).toContain('unexpected error (a bug; please report it');
    });
  },
);
