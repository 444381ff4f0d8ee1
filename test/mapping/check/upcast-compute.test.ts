import { describe, expect, it } from 'vitest';
import { BASE_MAPPING, compileText, folderWith, problemsOf } from '../../support/mappings.js';
import { jsonRecord } from '../../support/records.js';

/** BASE_MAPPING with an upcast from version 1 (and 2) whose steps are `steps` (YAML, 4 spaces in). */
const withSteps = (steps: string): string =>
  `${BASE_MAPPING}upcast:\n  field: v\n  current: 3\n  steps:\n${steps}`;

describe('validate type-checks upcast compute expressions', () => {
  it('names a misspelled field, a bare word and headers, each at its token', async () => {
    const text = withSteps(
      [
        "    '1':",
        '      compute:',
        "        total: 'double(total_cnets) / 100.0'",
        '        kind: \'order_id == U ? "update" : "other"\'',
        '        via: \'headers["x-source-system"]\'',
        '      remove: [total_cents]',
        "    '2': {}",
        '',
      ].join('\n'),
    );
    expect(await problemsOf(text)).toEqual([
      '22:24 upcast.steps.1.compute.total: total_cnets is not a field of the record at version 1 (did you mean total_cents?)',
      '23:28 upcast.steps.1.compute.kind: U is not a field; did you mean the string \'U\'? (text in CEL is quoted: order_id == \'U\' ? "update" : "other")',
      "24:15 upcast.steps.1.compute.via: headers is not a field of the record at version 1 (its fields: order_id, total, event_id, v, total_cents; an upcast computes from the record alone; headers is read by a route's when)",
    ]);
  });

  it('without source.schema, a field the mapping reads nowhere else is unknown; record.x reads it', async () => {
    const step = (expr: string): string =>
      withSteps(`    '1': { compute: { total: '${expr}' } }\n    '2': {}\n`);
    expect(await problemsOf(step('double(amount_cents) / 100.0'))).toEqual([
      '20:38 upcast.steps.1.compute.total: amount_cents is not a field of the record at version 1 (its fields: order_id, total, event_id, v; no map or identity reads a field amount_cents; write record.amount_cents to read a field the mapping names nowhere else, or give source.schema)',
    ]);
    expect(await problemsOf(step('double(record.amount_cents) / 100.0'))).toEqual([]);
  });

  it('sees what the steps before and this step’s rename, default and set wrote; not what it computes, nor what was renamed away or removed', async () => {
    const text = withSteps(
      [
        "    '1':",
        '      rename: { total_cents: cents }',
        '      default: { currency: EUR }',
        '      compute: { total: double(cents) / 100.0, shown: string(total) + currency }',
        '      remove: [cents]',
        "    '2':",
        "      compute: { again: 'cents > 0', same: 'shown + string(total_cents)', fine: 'total > 1.0' }",
        '',
      ].join('\n'),
    );
    expect(await problemsOf(text)).toEqual([
      '26:26 upcast.steps.2.compute.again: cents is not a field of the record at version 2 (its fields: order_id, total, event_id, v, currency, shown; no map or identity reads a field cents; write record.cents to read a field the mapping names nowhere else, or give source.schema)',
      '26:60 upcast.steps.2.compute.same: total_cents is not a field of the record at version 2 (its fields: order_id, total, event_id, v, currency, shown; no map or identity reads a field total_cents; write record.total_cents to read a field the mapping names nowhere else, or give source.schema)',
    ]);
  });

  it('checks types against source.schema, and a computed field’s type in the next step', async () => {
    const schema = JSON.stringify({
      type: 'object',
      properties: {
        event_id: { type: 'string' },
        order_id: { type: 'string' },
        total: { type: 'string' },
        v: { type: 'integer' },
        total_cents: { type: 'string' },
      },
    });
    const dir = await folderWith({ 'order.json': schema });
    const text = withSteps(
      [
        "    '1': { compute: { cents: 'int(total_cents)', wrong: 'total_cents / 100' } }",
        "    '2': { compute: { euros: 'cents + \"EUR\"', topic_was: 'topic' } }",
        '',
      ].join('\n'),
    ).replace('  format: json\n', '  format: json\n  schema: order.json\n');
    expect(await problemsOf(text, { dir })).toEqual([
      '21:58 upcast.steps.1.compute.wrong: the types do not fit: total_cents / 100 is string / int (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
      '22:31 upcast.steps.2.compute.euros: the types do not fit: cents + "EUR" is int + string (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
      "22:59 upcast.steps.2.compute.topic_was: topic is not a field of the record at version 2 (its fields: event_id, order_id, total, v, total_cents, cents, wrong; an upcast computes from the record alone; topic is read by a route's when)",
    ]);
  });

  it('reports a syntax error once, at the value with the column in the expression', async () => {
    const text = withSteps(`    '1': { compute: { total: 'nope +' } }\n    '2': {}\n`);
    expect(await problemsOf(text)).toEqual([
      '20:30 upcast.steps.1.compute.total: invalid CEL expression: Unexpected token: EOF (column 7 of the expression)',
    ]);
  });

  it('passes a compute that runs, and it runs', async () => {
    const pipeline = await compileText(
      withSteps(
        "    '1': { compute: { total: 'double(total_cents) / 100.0' }, remove: [total_cents] }\n    '2': {}\n",
      ),
    );
    const result = await pipeline.process(
      jsonRecord({ v: 1, event_id: 'e-1', order_id: 'o-1', total_cents: '1200' }),
    );
    expect(result.kind === 'pass' && result.outputs.map((o) => o.payload)).toEqual([
      { orderId: 'o-1', total: 1200 },
    ]);
  });
});
