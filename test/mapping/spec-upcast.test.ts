import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { mappingJsonSchema } from '../../src/mapping/spec.js';
import { BASE_MAPPING, compileText, folderWith, problemsOf } from '../support/mappings.js';
import { jsonRecord } from '../support/records.js';

/** BASE_MAPPING with an upcast from version 1 to 2 whose step is `step` (YAML, 6 spaces in). */
const withUpcast = (step: string): string =>
  `${BASE_MAPPING}upcast:\n  field: v\n  current: 2\n  steps:\n    '1':\n${step}`;

describe('upcast compute in mapping files', () => {
  it('reads cents as text into a decimal the map casts, end to end', async () => {
    const pipeline = await compileText(
      withUpcast(
        [
          '      compute: { total: double(total_cents) / 100.0 }',
          '      remove: [total_cents]',
          '',
        ].join('\n'),
      ),
    );
    const result = await pipeline.process(
      jsonRecord({ v: 1, event_id: 'e-1', order_id: 'o-1', total_cents: '1999' }),
    );
    expect(result.kind === 'pass' && result.outputs.map((o) => o.payload)).toEqual([
      { orderId: 'o-1', total: 1999 },
    ]);
  });

  it('lets a route read a field only an upcast computes (validate knows computed fields)', async () => {
    const text = withUpcast('      compute: { big: double(total) > 100.0 }\n').replace(
      '  - name: placed\n',
      '  - name: placed\n    when: big == false\n',
    );
    expect(text).toContain('when: big == false');
    expect(await problemsOf(text)).toEqual([]);
  });

  it('quarantines a record its expression fails on as upcast.compute-failed', async () => {
    const pipeline = await compileText(
      withUpcast(
        '      compute: { total: double(total_cents) / 100.0 }\n      remove: [total_cents]\n',
      ),
    );
    const result = await pipeline.process(
      jsonRecord({ v: 1, event_id: 'e-1', order_id: 'o-1', total_cents: 'n/a' }),
    );
    expect(result).toMatchObject({
      kind: 'quarantine',
      stage: 'upcast',
      issues: [
        {
          code: 'upcast.compute-failed',
          path: 'total',
          rule: 'upcast.steps.1.compute.total',
          message:
            'version 1 → 2: total = double(total_cents) / 100.0 failed: double() type error: cannot convert to double (read total_cents: "n/a")',
        },
      ],
    });
  });

  it('reports a syntax error with file position and key, together with the other problems', async () => {
    const text = withUpcast(
      [
        '      compute:',
        '        total: double(total_cents) /',
        "        'meta.cents': 'int(total_cents) = 0'",
        '',
      ].join('\n'),
    ).replace('format: json\n', 'format: jsno\n');
    expect(await problemsOf(text)).toEqual([
      '6:11 source.format: Invalid option: expected one of "json"|"avro"|"avro-binary" (did you mean "json"?)',
      '22:16 upcast.steps.1.compute.total: invalid CEL expression: Unexpected token: EOF (column 22 of the expression)',
      '23:23 upcast.steps.1.compute.meta.cents: invalid CEL expression: Unexpected character: = (column 18 of the expression; use == to compare: int(total_cents) == 0)',
    ]);
  });

  it('refuses a field both set and computed, or computed and then removed', async () => {
    const text = withUpcast(
      [
        '      set: { total: 0 }',
        '      compute: { total: double(total_cents), cents: int(total_cents) }',
        '      remove: [cents, total_cents]',
        '',
      ].join('\n'),
    );
    expect(await problemsOf(text)).toEqual([
      '22:25 upcast.steps.1.compute.total: total is both set and computed in this step; keep one',
      '22:53 upcast.steps.1.compute.cents: cents is computed, then removed (remove runs last); keep one',
    ]);
  });

  it('takes expressions as text only, and field paths as keys', async () => {
    const text = withUpcast("      compute: { total: 100, 'lines[x]': record.amount }\n");
    expect(await problemsOf(text)).toEqual([
      "21:25 upcast.steps.1.compute.total: Invalid input: expected string, received number (YAML reads 100 as a number: quote it to make it text, total: '100')",
      '21:30 upcast.steps.1.compute.lines[x]: key is not a field path (like `order_id`, `customer.address.city`, `lines[0].sku`)',
    ]);
  });

  it('is described in the editor schema with its place in the order of operations', () => {
    const schema = JSON.stringify(mappingJsonSchema());
    expect(schema).toContain(
      'Version N → N+1, each step in this order: rename, default, set, compute, remove.',
    );
    expect(schema).toContain('"compute":{"description":"Field path → CEL expression');
  });
});

describe('schema file paths', () => {
  it('are relative to the mapping file, as the editor schema says', async () => {
    const dir = await folderWith({});
    await mkdir(join(dir, 'schemas'));
    await copyFile(
      join(projectRoot(), 'schemas', 'sales', 'order-cancelled.avsc'),
      join(dir, 'schemas', 'cancelled.avsc'),
    );
    const text = BASE_MAPPING.replace(
      'to: { topic: sales.placed, format: json, key: orderId }',
      'to: { topic: sales.cancelled, schema: schemas/cancelled.avsc, key: orderId }',
    ).replace(
      '      total: { from: total, as: decimal, scale: 2 }\n',
      '      reason: { const: r }\n      cancelledAt: { const: 0 }\n',
    );
    // The working directory (the project) has no schemas/cancelled.avsc: only the mapping's
    // folder does.
    expect(process.cwd()).not.toBe(dir);
    const pipeline = await compileText(text, { dir });
    expect(pipeline.outputTopics()).toEqual(['sales.cancelled']);
    const described = JSON.stringify(mappingJsonSchema());
    expect(described).toContain(
      'The Avro schema file (.avsc), relative to the mapping file (not the working directory)',
    );
    expect(described).toContain('A schema file, relative to the mapping file.');
    expect(described).not.toContain('relative to the project');
  });
});
