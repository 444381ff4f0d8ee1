import { describe, expect, it } from 'vitest';
import { BASE_MAPPING, problemsOf } from '../../support/mappings.js';

describe('YAML syntax errors, explained', () => {
  it('BLOCK_AS_IMPLICIT_KEY: a colon and space inside a value', async () => {
    const text = BASE_MAPPING.replace('  - name: placed\n', '  - name: placed\n    when: a: b\n');
    expect(await problemsOf(text)).toEqual([
      '12:11 : Nested mappings are not allowed in compact mappings (a `key: value` follows another `key:` on the same line; usually a missing line break or indent, or a colon followed by a space inside a value (`when: a: b`): put the value in quotes)',
    ]);
  });

  it('BAD_INDENT: keys of one mapping out of line', async () => {
    const text = BASE_MAPPING.replace('  event: event_id', ' event: event_id');
    expect(await problemsOf(text)).toEqual([
      '9:1 : All mapping items must start at the same column (the keys of one mapping must line up in the same column: indent this line like its siblings (two spaces per level), or further to nest it under the key above)',
    ]);
  });

  it('BAD_INDENT: an unclosed flow map', async () => {
    const text = BASE_MAPPING.replace('key: orderId }', 'key: orderId');
    expect(await problemsOf(text)).toEqual([
      '13:5 : Flow map in block collection must be sufficiently indented and end with a } (a { is not closed: end it with } on the same line, or indent the lines it continues on)',
    ]);
  });

  it('MULTILINE_IMPLICIT_KEY: a line without `key:`', async () => {
    const text = BASE_MAPPING.replace('version: 1\n', 'version 1\nsource2: x\n');
    expect(await problemsOf(text)).toEqual([
      '2:1 : Implicit keys need to be on a single line (a key runs over more than one line; usually a line without `key:` (or `- `) in a mapping, or a value continued without indent: indent the continuation under its key, or quote the value)',
    ]);
  });

  it('DUPLICATE_KEY', async () => {
    const text = BASE_MAPPING.replace('version: 1\n', 'version: 1\nversion: 2\n');
    expect(await problemsOf(text)).toEqual([
      '3:1 : Map keys must be unique (this key is given twice in the same mapping, and YAML keeps only one: remove or rename one of them)',
    ]);
  });

  it('TAB_AS_INDENT', async () => {
    const text = BASE_MAPPING.replace('  event: event_id', '\tevent: event_id');
    expect((await problemsOf(text))[0]).toBe(
      '9:1 : Tabs are not allowed as indentation (YAML indents with spaces only: replace the tab with spaces)',
    );
  });

  it('MISSING_CHAR: an unclosed quote', async () => {
    const text = `${BASE_MAPPING}      note: { const: "open }\n`;
    expect(await problemsOf(text)).toEqual([
      "17:1 : Missing closing \"quote (a quoted value is not closed: end it with the same quote it starts with (inside single quotes write a quote as two: 'it''s'))",
    ]);
  });

  it('UNEXPECTED_TOKEN: a bracket in a plain value inside braces, reported once', async () => {
    const text = `${BASE_MAPPING}      first: { expr: lines[0].sku }\n      second: { expr: x }\n`;
    expect(await problemsOf(text)).toEqual([
      "16:27 : Unexpected flow-seq-start at node end (inside { } or [ ], a plain value ends at [ ] { } or a comma: quote the value, e.g. { expr: 'lines[0].sku' })",
    ]);
  });

  it('BAD_SCALAR_START: a value starting with a reserved character', async () => {
    const text = BASE_MAPPING.replace('name: orders', 'name: @orders');
    expect(await problemsOf(text)).toEqual([
      '1:7 : Plain value cannot start with reserved character @ (a plain value cannot start with @ (YAML reserves @, `, |, >, %, &, *, ! and others at the start): put the value in quotes)',
    ]);
  });
});
