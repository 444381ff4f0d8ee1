import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileMapping } from '../../src/mapping/compile.js';
import { loadMappingFile } from '../../src/mapping/load.js';
import { mappingJsonSchema } from '../../src/mapping/spec.js';
import { findFiles, isMappingFile, isMappingTestFile } from '../../src/mapping/files.js';
import { runTestFile } from '../../src/mapping/test-runner.js';
import { projectRoot } from '../../src/infra/paths.js';
import { InMemorySchemaRegistry } from '../../src/pipeline/ports.js';

const root = projectRoot();
const mappings = join(root, 'mappings');

describe('the example mappings', () => {
  it('validate', async () => {
    const files = await findFiles([mappings], isMappingFile);
    expect(files.length).toBeGreaterThanOrEqual(2);
    const env = { ERP_HMAC_KEY_1: 'a', ERP_HMAC_KEY_2: 'b' };
    for (const file of files) {
      const pipeline = await compileMapping(await loadMappingFile(file, env), {
        registry: new InMemorySchemaRegistry(),
      });
      expect(pipeline.outputTopics().length).toBeGreaterThan(0);
    }
  });

  it('pass their test files', async () => {
    const files = await findFiles([mappings], isMappingTestFile);
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const file of files) {
      const result = await runTestFile(file);
      const failures = result.cases
        .filter((c) => !c.passed)
        .map((c) => `${c.name}: ${c.differences.join('; ')}`);
      expect(failures, file).toEqual([]);
      expect(result.cases.length).toBeGreaterThan(5);
    }
  });
});

describe('schemas/mapping.schema.json', () => {
  it('is what `membrane schema` generates (run `npm run membrane -- schema -o schemas/mapping.schema.json`)', async () => {
    const committed: unknown = JSON.parse(
      await readFile(join(root, 'schemas', 'mapping.schema.json'), 'utf8'),
    );
    expect(committed).toEqual(mappingJsonSchema());
  });
});
