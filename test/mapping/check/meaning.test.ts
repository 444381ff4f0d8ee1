import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMappingText, MappingError } from '../../../src/mapping/load.js';
import { BASE_MAPPING, folderWith, problemsOf } from '../../support/mappings.js';

/** BASE_MAPPING with a `when` on its route (line 12, the expression from column 11). */
const withWhen = (when: string): string =>
  BASE_MAPPING.replace('  - name: placed\n', `  - name: placed\n    when: ${when}\n`);

/** BASE_MAPPING with invariants (the first on line 17). */
const withRules = (...rules: string[]): string =>
  `${BASE_MAPPING}    invariants:\n${rules.map((r, i) => `      - { name: r${i}, rule: '${r}' }\n`).join('')}`;

const AVRO_ORDER = JSON.stringify({
  type: 'record',
  name: 'Order',
  fields: [
    { name: 'order_id', type: 'string' },
    { name: 'total', type: 'string' },
    { name: 'event_id', type: 'string' },
    { name: 'qty', type: 'int' },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['C', 'X'] } },
    { name: 'note', type: ['null', 'string'], default: null },
    {
      name: 'lines',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'Line',
          fields: [
            { name: 'sku', type: 'string' },
            { name: 'qty', type: 'int' },
          ],
        },
      },
    },
  ],
});

const JSON_SCHEMA_ORDER = JSON.stringify({
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'Order',
  type: 'object',
  properties: {
    order_id: { type: 'string' },
    total: { type: 'string' },
    event_id: { type: 'string' },
    qty: { type: 'integer' },
    note: { type: ['string', 'null'] },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: { sku: { type: 'string' }, qty: { type: 'integer' } },
      },
    },
  },
});

describe('validate checks CEL expressions against what the record can contain', () => {
  it('says a bare word in a route is meant as a string, at the word itself', async () => {
    expect(await problemsOf(withWhen('order_id == U'))).toEqual([
      "12:23 events[0].when: U is not a field; did you mean the string 'U'? (text in CEL is quoted: order_id == 'U')",
    ]);
  });

  it('without source.schema, a field no map reads is unknown; the bare word beside it too', async () => {
    expect(await problemsOf(withWhen('REC_TYPE == U'))).toEqual([
      '12:11 events[0].when: REC_TYPE is not a field of the upstream record (its fields: order_id, total, event_id; no map or identity reads a field REC_TYPE; write record.REC_TYPE to read a field the mapping names nowhere else, or give source.schema)',
      "12:23 events[0].when: U is not a field; did you mean the string 'U'? (text in CEL is quoted: REC_TYPE == 'U')",
    ]);
    // `record` reads any field, and a quoted code is text.
    expect(await problemsOf(withWhen("record.REC_TYPE == 'U'"))).toEqual([]);
  });

  it('names bare words in a list, and only them', async () => {
    expect(await problemsOf(withWhen('record.kind in [A, "B"]'))).toEqual([
      "12:27 events[0].when: A is not a field; did you mean the string 'A'? (text in CEL is quoted: record.kind in ['A', \"B\"])",
    ]);
  });

  it('suggests the field a misspelled name in an invariant means', async () => {
    const text = withRules('emial != ""').replace(
      '      orderId: order_id\n',
      '      orderId: order_id\n      email: e_mail\n',
    );
    expect(await problemsOf(text)).toEqual([
      '18:28 events[0].invariants[0].rule: emial is not a field of the translated record (did you mean email?)',
    ]);
  });

  it('reports every unknown name of an expression, not only the first', async () => {
    expect(await problemsOf(withRules('totl > 0 && ordrId != ""'))).toEqual([
      '17:28 events[0].invariants[0].rule: totl is not a field of the translated record (did you mean total?)',
      '17:40 events[0].invariants[0].rule: ordrId is not a field of the translated record (did you mean orderId?)',
    ]);
  });

  it('points at a single = and says to use ==', async () => {
    expect(await problemsOf(withWhen("record.kind = 'A'"))).toEqual([
      "12:23 events[0].when: invalid CEL expression: Unexpected character: = (use == to compare: record.kind == 'A')",
    ]);
  });

  it('knows the types of translated fields: casts, lookups, constants', async () => {
    const text = withRules('total > "0"', 'status == 1', 'source + 1 > 0').replace(
      '      total: { from: total, as: decimal, scale: 2 }\n',
      '      total: { from: total, as: decimal, scale: 2 }\n      status: { from: st, lookup: { N: NEW, P: PAID } }\n      source: { const: erp }\n',
    );
    expect(await problemsOf(text)).toEqual([
      '19:28 events[0].invariants[0].rule: the types do not fit: total > "0" is int > string (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
      '20:28 events[0].invariants[1].rule: the types do not fit: status == 1 is string == int (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
      '21:28 events[0].invariants[2].rule: the types do not fit: source + 1 is string + int (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
    ]);
  });

  it('refuses a condition that is not true or false', async () => {
    expect(await problemsOf(withRules('size(orderId)'))).toEqual([
      '17:28 events[0].invariants[0].rule: gives int, not true or false (a condition or rule must be a comparison or another boolean expression, e.g. x == "A")',
    ]);
  });

  it('checks expressions against an Avro source.schema: fields, nested records, types', async () => {
    const dir = await folderWith({ 'order.avsc': AVRO_ORDER });
    const avro = BASE_MAPPING.replace('  format: json\n', '  format: avro\n  schema: order.avsc\n');
    const good = avro
      .replace(
        '  - name: placed\n',
        '  - name: placed\n    when: kind == "C" && qty > 0 && note != null && record.lines.all(l, l.qty > 0)\n',
      )
      .concat(
        "      first: { expr: 'lines[0].sku' }\n",
        "      items: { each: lines, map: { sku: sku, next: { expr: 'qty + 1' } } }\n",
      );
    expect(await problemsOf(good, { dir })).toEqual([]);
    const bad = avro
      .replace('  - name: placed\n', '  - name: placed\n    when: knd == "C" && qty == "1"\n')
      .concat(
        "      first: { expr: 'lines[0].skux' }\n",
        "      items: { each: lines, map: { sku: sku, q: { expr: 'qtty' } } }\n",
        '      r: { from: totl }\n',
      );
    expect(await problemsOf(bad, { dir })).toEqual([
      '13:11 events[0].when: knd is not a field of the upstream record (schema order.avsc) (did you mean kind?)',
      '13:25 events[0].when: the types do not fit: qty == "1" is int == string (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
      '18:32 events[0].map.first.expr: skux is not a field of lines[0] (did you mean lines[0].sku?)',
      '19:58 events[0].map.items.map.q.expr: qtty is not a field of an element of lines (did you mean qty?)',
      '20:18 events[0].map.r.from: totl is not in the upstream record (schema order.avsc) (did you mean total?)',
    ]);
  });

  it('checks expressions of a JSON source against a JSON Schema in source.schema', async () => {
    const dir = await folderWith({ 'order.schema.json': JSON_SCHEMA_ORDER });
    const json = BASE_MAPPING.replace(
      '  format: json\n',
      '  format: json\n  schema: order.schema.json\n',
    );
    const good = json.replace(
      '  - name: placed\n',
      '  - name: placed\n    when: qty > 0 && note == null && lines.exists(l, l.sku == "A")\n',
    );
    expect(await problemsOf(good, { dir })).toEqual([]);
    const bad = json.replace(
      '  - name: placed\n',
      '  - name: placed\n    when: qty > "0" || lines.exists(l, l.skuu == "A")\n',
    );
    expect(await problemsOf(bad, { dir })).toEqual([
      '13:11 events[0].when: the types do not fit: qty > "0" is int > string (compare like with like: quote text, leave numbers bare, or convert with int(…), double(…) or string(…))',
    ]);
    // With the first fixed, the checker reaches the second.
    expect(await problemsOf(bad.replace('qty > "0"', 'qty > 0'), { dir })).toEqual([
      '13:40 events[0].when: skuu is not a field of l (did you mean l.sku?)',
    ]);
  });

  it('names a source.schema it cannot read, and still checks the rest (with any field name)', async () => {
    const text = BASE_MAPPING.replace('  format: json\n', '  format: json\n  schema: nope.json\n')
      .replace('  - name: placed\n', '  - name: placed\n    when: anything == U\n')
      .concat('      at: { from: t, as: timestamp, zone: Europe/Berln }\n');
    const dir = await folderWith({});
    expect(await problemsOf(text, { dir })).toEqual([
      `7:11 source.schema: cannot read schema file ${join(dir, 'nope.json')}: ENOENT: no such file or directory, open '${join(dir, 'nope.json')}' (paths are relative to the mapping file)`,
      '18:43 events[0].map.at.zone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin? zones are IANA names like Europe/Berlin)',
    ]);
  });
});

describe('validate inside each', () => {
  const withEach = (rest: string): string =>
    `${BASE_MAPPING}      lines:\n        each: line_items\n        map:\n          sku: sku\n${rest}`;

  it('without a schema, lets an expr read any field of an element (none of the siblings reads)', async () => {
    const text = withEach("          first: { expr: 'primary == true && qty > 0' }\n");
    expect(await problemsOf(text)).toEqual([]);
  });

  it('with a schema, names an element field the schema does not have', async () => {
    const dir = await folderWith({ 'order.avsc': AVRO_ORDER });
    const text = withEach("          first: { expr: 'primary == true' }\n")
      .replace('each: line_items', 'each: lines')
      .replace('  format: json\n', '  format: avro\n  schema: order.avsc\n');
    expect(await problemsOf(text, { dir })).toEqual([
      '21:27 events[0].map.lines.map.first.expr: primary is not a field of an element of lines (its fields: sku, qty)',
    ]);
  });
});

describe('validate checks date formats and zones', () => {
  it('names each Moment-style token of a format, at the token, with the Luxon one', async () => {
    const text = `${BASE_MAPPING}      at: { from: created, as: timestamp, format: 'DD.MM.YYYY hh:mm:ss', zone: Europe/Berlin }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:52 events[0].map.at.format: `DD` is not a part of a date in Luxon: it is a whole localized date (like "Aug 6, 2014") (use `dd` for the two-digit day of the month (01–31))',
      '16:58 events[0].map.at.format: `YYYY` is not a Luxon token (Luxon would expect the literal text "YYYY") (use `yyyy` for the four-digit year; literal text goes in single quotes, like \'T\')',
      '16:63 events[0].map.at.format: `hh` is the hour on a 12-hour clock (01–12), and the format has no `a` (AM/PM): 13:00 would not parse (use `HH` for the hour 00–23, or add `a`)',
    ]);
  });

  it('checks formats of dates inside `each` too', async () => {
    const text = `${BASE_MAPPING}      lines: { each: items, map: { on: { from: d, as: date, format: YYYY-MM-dd } } }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:69 events[0].map.lines.map.on.format: `YYYY` is not a Luxon token (Luxon would expect the literal text "YYYY") (use `yyyy` for the four-digit year; literal text goes in single quotes, like \'T\')',
    ]);
  });

  it('suggests the IANA zone a misspelled one means', async () => {
    const text = `${BASE_MAPPING}      at: { from: created, as: timestamp, zone: Europe/Berln }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:49 events[0].map.at.zone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin? zones are IANA names like Europe/Berlin)',
    ]);
  });
});

describe('validate reports every problem of a file at once', () => {
  it('a wrong cast and a wrong zone together, with the shape error in the same report', async () => {
    const text = `${BASE_MAPPING}      amount: { from: amt, as: money }\n      at: { from: created, as: timestamp, zone: Europe/Berln }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:32 events[0].map.amount.as: Invalid option: expected one of "string"|"int"|"long"|"double"|"decimal"|"boolean"|"timestamp"|"date" (did you mean "long"?)',
      '17:49 events[0].map.at.zone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin? zones are IANA names like Europe/Berlin)',
    ]);
  });

  it('the checks of meaning together with the compile checks (units, keys), in file order', async () => {
    const text = withRules('emial != ""')
      .replace('key: orderId', 'key: order')
      .replace(
        '      total: { from: total, as: decimal, scale: 2 }\n',
        '      total: { from: total, as: decimal, scale: 2 }\n      w: { from: w, as: double, unit: { from: g, to: m } }\n',
      );
    expect(await problemsOf(text)).toEqual([
      '12:51 events[0].to.key: key order is not a field of the map (did you mean orderId?)',
      '16:39 events[0].map.w.unit: cannot convert mass (g) to length (m)',
      '18:28 events[0].invariants[0].rule: emial is not a field of the translated record (its fields: orderId, total, w; rules read the translated record’s fields (the keys of map); the upstream record is record)',
    ]);
  });

  it('a bad cast, a route name used twice and an output key not in the map, in one run', async () => {
    const text = `${BASE_MAPPING.replace('key: orderId', 'key: ordreId').replace(
      'orderId: order_id\n',
      'orderId: { from: order_id, as: strng }\n',
    )}  - name: placed
    to: [{ topic: sales.again, format: json, key: nope }]
    map: { id: order_id }
`;
    expect(await problemsOf(text)).toEqual([
      '12:51 events[0].to.key: key ordreId is not a field of the map (did you mean orderId?)',
      '14:38 events[0].map.orderId.as: Invalid option: expected one of "string"|"int"|"long"|"double"|"decimal"|"boolean"|"timestamp"|"date" (did you mean "string"?)',
      '16:11 events[1].name: route name placed is used twice (give each route its own name)',
      '17:51 events[1].to[0].key: key nope is not a field of the map (its fields: id)',
    ]);
  });

  it('throws them as one MappingError from loading when the shape is wrong too', () => {
    const text = withWhen('order_id == U').replace('version: 1', 'version: one');
    let error: unknown;
    try {
      loadMappingText(text, 'm.yaml', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MappingError);
    expect((error as MappingError).message).toBe(
      [
        '2 problems in mapping files:',
        '  m.yaml:2:10: version: Invalid input: expected number, received string',
        "  m.yaml:12:23: events[0].when: U is not a field; did you mean the string 'U'? (text in CEL is quoted: order_id == 'U')",
      ].join('\n'),
    );
  });
});
