import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { findFiles, isMappingTestFile } from '../../src/mapping/files.js';
import { mappingTestJsonSchema } from '../../src/mapping/testing/spec.js';
import { runInProcess } from '../integration/quarantine/in-process.js';

/**
 * schemas/mapping-test.schema.json, the JSON Schema editors use for `*.test.yaml`: generated
 * from the zod schema that validates test files, and checked in as generated.
 */

const root = projectRoot();
const REGENERATE =
  'regenerate it: npm run membrane -- schema --test-file -o schemas/mapping-test.schema.json';

describe('schemas/mapping-test.schema.json', () => {
  it(`is what \`membrane schema --test-file\` generates (${REGENERATE})`, async () => {
    const committed: unknown = JSON.parse(
      await readFile(join(root, 'schemas', 'mapping-test.schema.json'), 'utf8'),
    );
    expect(committed, REGENERATE).toEqual(mappingTestJsonSchema());
  });

  it('`membrane schema --test-file` prints it; `membrane schema` still prints the mapping schema', async () => {
    const tests = await runInProcess(['schema', '--test-file']);
    expect(tests.code).toBe(0);
    expect(JSON.parse(tests.stdout)).toEqual(mappingTestJsonSchema());
    const mappings = await runInProcess(['schema']);
    expect((JSON.parse(mappings.stdout) as { title: string }).title).toBe('membrane mapping');
  });

  it('describes both forms of a quarantine expectation, and contains beside value', () => {
    const schema = mappingTestJsonSchema() as {
      title: string;
      $defs: Record<string, { enum?: string[] }>;
      properties: {
        cases: {
          items: {
            properties: {
              expect: {
                properties: {
                  quarantine: { anyOf: unknown[] };
                  outputs: { items: { properties: Record<string, unknown> } };
                };
              };
            };
          };
        };
      };
    };
    expect(schema.title).toBe('membrane mapping test');
    const expectation = schema.properties.cases.items.properties.expect.properties;
    expect(expectation.quarantine.anyOf).toEqual([
      { $ref: '#/$defs/IssueCode' },
      expect.objectContaining({
        type: 'object',
        required: ['code'],
        properties: expect.objectContaining({ code: { $ref: '#/$defs/IssueCode' } }) as unknown,
      }),
    ]);
    expect(schema.$defs['IssueCode']?.enum).toContain('trust.signature-invalid');
    expect(Object.keys(expectation.outputs.items.properties)).toEqual([
      'topic',
      'key',
      'value',
      'contains',
      'headers',
    ]);
  });

  it('is named by the first line of every example test file', async () => {
    const files = await findFiles([join(root, 'mappings')], isMappingTestFile);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const first = (await readFile(file, 'utf8')).split('\n')[0];
      expect(first, file).toBe(
        '# yaml-language-server: $schema=../schemas/mapping-test.schema.json',
      );
    }
  });
});
