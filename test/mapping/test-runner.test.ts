import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { formatProblem, MappingError } from '../../src/mapping/load.js';
import { runTestFile, runTestFiles, type FileResult } from '../../src/mapping/test-runner.js';
import { childPath, compareValues } from '../../src/mapping/testing/compare.js';
import { folderWith } from '../support/mappings.js';

/**
 * The test runner (`membrane test`): how it compares (value: exact, contains: subset), what a
 * difference says, where a failing case is (file:line), the two ways to write a quarantine
 * expectation, and the problems of a test file — each with the exact text a user reads.
 */

/** A JSON mapping with a nested object, an array and a rule, for the cases below. */
const CRM = `name: crm
version: 1
source: { system: crm, topics: [crm.customers], format: json }
identity: { aggregate: id, event: event_id }
events:
  - name: customer
    when: record.kind == "customer"
    to: { topic: crm.customer.v1, format: json, key: id }
    map:
      id: id
      customer: { expr: '{"name": record.name, "city": record.city}' }
      tags: tags
      score: { from: score, as: int }
    invariants: [{ name: has-name, rule: 'customer.name != ""' }]
  - name: internal
    when: record.kind == "internal"
    drop: internal test customers
`;

const ERIKA = `{ kind: customer, id: '7', event_id: e1, name: Erika Mustermann, city: Bern, tags: [vip, b2b], score: '3' }`;

/** Runs a test file of the given cases (YAML text under `cases:`) against CRM. */
async function run(cases: string): Promise<FileResult> {
  const dir = await folderWith({
    'crm.yaml': CRM,
    'crm.test.yaml': `mapping: crm.yaml\ncases:\n${cases}`,
  });
  return runTestFile(join(dir, 'crm.test.yaml'));
}

/** Each case as [name, line, differences]. */
const outcomes = (result: FileResult): [string, number, readonly string[]][] =>
  result.cases.map((c) => [c.name, c.line, c.differences]);

/** The problems a test file cannot run with, as `line:column path: message (hint)`. */
async function problemsOf(text: string): Promise<string[]> {
  const dir = await folderWith({ 'crm.yaml': CRM, 'crm.test.yaml': text });
  try {
    await runTestFile(join(dir, 'crm.test.yaml'));
  } catch (error) {
    if (!(error instanceof MappingError)) throw error;
    return error.problems.map((p) => formatProblem(p).slice(p.file.length + 1));
  }
  return [];
}

describe('compareValues', () => {
  const actual = {
    id: '7',
    customer: { name: 'Erika Mustermann', city: 'Bern' },
    tags: ['vip', 'b2b'],
    lines: [
      { sku: 'A', qty: 1 },
      { sku: 'B', qty: 2 },
    ],
    note: null,
  };

  it('contains: only the fields named, at any depth, objects inside arrays by subset', () => {
    expect(
      compareValues(
        { customer: { city: 'Bern' }, lines: [{ sku: 'A' }, { qty: 2 }], note: null },
        actual,
        'value',
        'contains',
      ),
    ).toEqual([]);
  });

  it('contains: one line per difference, each naming its path', () => {
    expect(
      compareValues(
        {
          customer: { name: 'Erika' },
          tags: ['vip'],
          lines: [{ sku: 'A' }, { qty: '2' }],
          note: 'x',
          missing: 0,
        },
        actual,
        'value',
        'contains',
      ),
    ).toEqual([
      'value.customer.name: expected "Erika", got "Erika Mustermann"',
      'value.tags: expected 1 element, got 2: ["vip","b2b"]',
      'value.lines[1].qty: expected "2", got 2',
      'value.note: expected "x", got null',
      'value.missing: expected 0, got nothing',
    ]);
  });

  it('exact: the fields beyond those expected are one line per object, with their values', () => {
    expect(
      compareValues(
        {
          id: '7',
          customer: { name: 'Erika Mustermann' },
          tags: ['vip', 'b2b'],
          lines: [{ sku: 'A', qty: 1 }, { sku: 'B' }],
        },
        actual,
        'value',
        'exact',
      ),
    ).toEqual([
      'value.customer: unexpected field city = "Bern" (value: compares the whole value; contains: only the fields it names)',
      'value.lines[1]: unexpected field qty = 2 (value: compares the whole value; contains: only the fields it names)',
      'value: unexpected field note = null (value: compares the whole value; contains: only the fields it names)',
    ]);
    expect(compareValues(actual, structuredClone(actual), 'value', 'exact')).toEqual([]);
  });

  it('says what stands where another kind of value was expected, cut at 200 characters', () => {
    expect(compareValues({ a: 1 }, [1], 'value', 'exact')).toEqual([
      'value: expected {"a":1}, got [1]',
    ]);
    expect(compareValues('x', { a: 'y'.repeat(300) }, 'value.b', 'contains')).toEqual([
      `value.b: expected "x", got {"a":"${'y'.repeat(194)}…`,
    ]);
  });

  it('names keys that are not identifiers in brackets, as JSON strings', () => {
    expect(childPath('headers', 'membrane.route')).toBe('headers["membrane.route"]');
    expect(childPath('value', 'total_cents')).toBe('value.total_cents');
    expect(childPath('value', 3)).toBe('value[3]');
    expect(childPath('', 'id')).toBe('id');
  });
});

describe('membrane test: outputs', () => {
  it('contains: checks the fields given and says which differ, by path', async () => {
    const result = await run(`  - name: the fields that matter
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customer.v1
          contains: { customer: { city: Bern }, tags: [vip, b2b], score: 3 }
  - name: a wrong name
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customer.v1
          contains:
            customer: { name: Erika }
            score: '3'
`);
    expect(outcomes(result)).toEqual([
      ['the fields that matter', 3, []],
      [
        'a wrong name',
        9,
        [
          'outputs[0].value.customer.name: expected "Erika", got "Erika Mustermann"',
          'outputs[0].value.score: expected "3", got 3',
        ],
      ],
    ]);
  });

  it('value: the whole value; fields it does not name are one line, not one each', async () => {
    const result = await run(`  - name: exact
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customer.v1
          key: '7'
          value: { id: '7', customer: { name: Erika Mustermann, city: Bern }, tags: [vip, b2b], score: 3 }
  - name: half a value
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customer.v1
          value: { id: '7', customer: { name: Erika } }
`);
    expect(outcomes(result)).toEqual([
      ['exact', 3, []],
      [
        'half a value',
        10,
        [
          'outputs[0].value.customer.name: expected "Erika", got "Erika Mustermann"',
          'outputs[0].value.customer: unexpected field city = "Bern" (value: compares the whole value; contains: only the fields it names)',
          'outputs[0].value: unexpected fields tags = ["vip","b2b"], score = 3 (value: compares the whole value; contains: only the fields it names)',
        ],
      ],
    ]);
  });

  it('checks the topic, the key and the headers named (null: absent), each by name', async () => {
    const result = await run(`  - name: headers
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customer.v1
          key: '7'
          headers: { membrane.route: customer, membrane.correlation-id: null }
  - name: everything wrong
    input: { key: '7', value: ${ERIKA} }
    expect:
      outputs:
        - topic: crm.customers.v1
          key: null
          headers: { membrane.route: client, membrane.mapping: null, x-trace: t }
`);
    expect(outcomes(result)).toEqual([
      ['headers', 3, []],
      [
        'everything wrong',
        10,
        [
          'outputs[0].topic: expected "crm.customers.v1", got "crm.customer.v1"',
          'outputs[0].key: expected null, got "7"',
          'outputs[0].headers["membrane.route"]: expected "client", got "customer"',
          'outputs[0].headers["membrane.mapping"]: expected no header, got "crm@1"',
          'outputs[0].headers["x-trace"]: expected "t", got nothing',
        ],
      ],
    ]);
  });

  it('says how many outputs came when the count differs, and what came instead of outputs', async () => {
    const result = await run(`  - name: two expected
    input: { key: '7', value: ${ERIKA} }
    expect: { outputs: [{ topic: crm.customer.v1 }, { topic: crm.customer.v1 }] }
  - name: none expected
    input: { key: '7', value: ${ERIKA} }
    expect: { outputs: [] }
  - name: a drop instead
    input: { value: { kind: internal } }
    expect: { outputs: [{ topic: crm.customer.v1 }] }
`);
    expect(outcomes(result)).toEqual([
      ['two expected', 3, ['expected 2 outputs, got 1 (to crm.customer.v1)']],
      ['none expected', 6, ['expected 0 outputs, got 1 (to crm.customer.v1)']],
      ['a drop instead', 9, ['expected 1 output, got a drop (internal: internal test customers)']],
    ]);
  });
});

describe('membrane test: quarantine and drop', () => {
  const EMPTY_NAME = `{ kind: customer, id: '8', event_id: e2, name: '', city: Bern, tags: [], score: '1' }`;

  it('takes path, rule and message beside quarantine: <code> or inside quarantine: { code, … }', async () => {
    const result = await run(`  - name: beside
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: validate.invariant, rule: has-name, path: '', message: does not hold }
  - name: inside
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: { code: validate.invariant, rule: has-name, path: '' } }
  - name: a score that is not a number, beside
    input: { value: { kind: customer, id: '9', event_id: e3, name: N, score: many } }
    expect:
      quarantine: map.cast-failed
      path: score
  - name: the same inside
    input: { value: { kind: customer, id: '9', event_id: e3, name: N, score: many } }
    expect:
      quarantine: { code: map.cast-failed, path: score }
`);
    expect(outcomes(result)).toEqual([
      ['beside', 3, []],
      ['inside', 6, []],
      ['a score that is not a number, beside', 9, []],
      ['the same inside', 14, []],
    ]);
  });

  it('counts fields beside an object-form quarantine too: quarantine: { code } with rule: beside', async () => {
    const result = await run(`  - name: the wrong rule beside, a message that is not there inside
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: { code: validate.invariant, message: no such text }, rule: has-city }
  - name: the right rule beside, the message inside
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: { code: validate.invariant, message: does not hold }, rule: has-name }
`);
    expect(outcomes(result)).toEqual([
      [
        'the wrong rule beside, a message that is not there inside',
        3,
        [
          'expected quarantine validate.invariant by rule has-city with a message containing "no such text", got quarantine validate.invariant by rule has-name (rule has-name (customer.name != "") does not hold)',
        ],
      ],
      ['the right rule beside, the message inside', 6, []],
    ]);
  });

  it('names what was expected and what the record got', async () => {
    const result = await run(`  - name: another rule
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: { code: validate.invariant, rule: has-city } }
  - name: another message
    input: { value: ${EMPTY_NAME} }
    expect: { quarantine: validate.invariant, message: is empty }
  - name: outputs instead
    input: { key: '7', value: ${ERIKA} }
    expect: { quarantine: route.no-match, path: kind }
  - name: a drop expected
    input: { key: '7', value: ${ERIKA} }
    expect: { drop: internal }
  - name: another drop reason
    input: { value: { kind: internal } }
    expect: { drop: staging }
  - name: a drop
    input: { value: { kind: internal } }
    expect: { drop: test customers }
`);
    expect(outcomes(result)).toEqual([
      [
        'another rule',
        3,
        [
          'expected quarantine validate.invariant by rule has-city, got quarantine validate.invariant by rule has-name (rule has-name (customer.name != "") does not hold)',
        ],
      ],
      [
        'another message',
        6,
        [
          'expected quarantine validate.invariant with a message containing "is empty", got quarantine validate.invariant by rule has-name (rule has-name (customer.name != "") does not hold)',
        ],
      ],
      [
        'outputs instead',
        9,
        ['expected quarantine route.no-match at kind, got outputs to crm.customer.v1'],
      ],
      ['a drop expected', 12, ['expected a drop (internal), got outputs to crm.customer.v1']],
      [
        'another drop reason',
        15,
        ['expected a drop reason containing "staging", got "internal: internal test customers"'],
      ],
      ['a drop', 18, []],
    ]);
  });
});

describe('membrane test: a case whose input cannot be written fails alone, at its line', () => {
  it('an Avro value without a writer schema, or one that does not fit it', async () => {
    const stock = join(projectRoot(), 'mappings', 'wms-stock.yaml');
    const schema = join(projectRoot(), 'schemas', 'upstream', 'wms', 'stock-adjustment.avsc');
    const dir = await folderWith({
      'stock.test.yaml': `mapping: ${stock}
defaults: { headers: { x-source-system: wms } }
cases:
  - name: no schema
    input: { value: { sku: S } }
    expect: { drop: x }
  - name: does not fit
    input: { value: { sku: 1 }, avro: { schema: ${schema} } }
    expect: { drop: x }
  - name: not a schema
    input: { value: { sku: S }, avro: { schema: stock.test.yaml } }
    expect: { drop: x }
  - name: raw bytes need none
    input: { raw: { hex: '' } }
    expect: { quarantine: decode.empty-value }
`,
    });
    const result = await runTestFile(join(dir, 'stock.test.yaml'));
    const [noSchema, notFitting, notASchema, raw] = outcomes(result);
    expect(noSchema).toEqual([
      'no schema',
      4,
      [
        'input.avro.schema: is required to write an Avro value (the writer schema .avsc, relative to the test file; or give raw bytes)',
      ],
    ]);
    expect(notFitting?.[1]).toBe(7);
    expect(notFitting?.[2]).toHaveLength(1);
    expect(notFitting?.[2][0]).toMatch(
      new RegExp(`^input\\.value does not fit ${schema.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `),
    );
    expect(notASchema?.[1]).toBe(10);
    expect(notASchema?.[2][0]).toMatch(
      /^input\.avro\.schema: stock\.test\.yaml is not a readable Avro schema: /,
    );
    expect(raw).toEqual(['raw bytes need none', 13, []]);
  });
});

describe('membrane test: a test file with problems', () => {
  it('names each where it is, with a hint — quarantine fields inside and beside, not twice', async () => {
    expect(
      await problemsOf(`mapping: crm.yaml
cases:
  - name: twice
    input: { value: { id: '1' } }
    expect: { quarantine: { code: validate.invariant, rule: has-name }, rule: has-name }
  - name: path without quarantine
    input: { value: { id: '1' } }
    expect: { drop: x, path: y }
  - name: a misspelled code
    input: { value: { id: '1' } }
    expect: { quarantine: trust.signture-missing }
  - name: a misspelled key
    input: { value: { id: '1' } }
    expect: { quarantine: { code: map.cast-failed, pth: score } }
  - name: value and contains
    input: { value: { id: '1' } }
    expect: { outputs: [{ topic: x, value: {}, contains: {} }] }
  - name: nothing expected
    input: { value: { id: '1' } }
    expect: {}
  - name: contains is an object
    input: { value: { id: '1' } }
    expect: { outputs: [{ topic: x, contains: [1] }] }
  - name: an unquoted key
    input: { key: 4712, value: { id: '1' } }
    expect: { outputs: [{ topic: x, key: 4712 }] }
`),
    ).toEqual([
      '5:79: cases[0].expect.rule: rule is given twice: inside quarantine: { … } and beside it; keep one',
      '8:30: cases[1].expect.path: path belongs to a quarantine expectation: give it beside quarantine: <code>, or as quarantine: { code, path }',
      `11:27: cases[2].expect.quarantine: is not one of membrane's issue codes (the README lists them under Quarantine codes) (did you mean "trust.signature-missing"?)`,
      '14:52: cases[3].expect.quarantine.pth: unknown key "pth" (did you mean "path"? valid keys: code, path, rule, message)',
      '17:58: cases[4].expect.outputs[0].contains: give value (the whole value) or contains (only the fields given), not both for one output',
      '20:13: cases[5].expect: expect exactly one of outputs, quarantine, drop',
      '23:47: cases[6].expect.outputs[0].contains: Invalid input: expected record, received array',
      "25:19: cases[7].input.key: Invalid input: expected string, received number (YAML reads 4712 as a number: quote it to make it text, key: '4712')",
      "26:42: cases[7].expect.outputs[0].key: Invalid input: expected string, received number (YAML reads 4712 as a number: quote it to make it text, key: '4712')",
    ]);
  });

  it('a file that cannot run is reported with its problems; the others still run', async () => {
    const dir = await folderWith({
      'crm.yaml': CRM,
      'a.test.yaml': 'mapping: crm.yaml\ncases: []\n',
      'b.test.yaml': `mapping: crm.yaml\ncases:\n  - name: a drop\n    input: { value: { kind: internal } }\n    expect: { drop: internal }\n`,
      'c.test.yaml':
        'mapping: nowhere.yaml\ncases:\n  - { name: x, input: {}, expect: { drop: x } }\n',
    });
    const reports = await runTestFiles(['a', 'b', 'c'].map((f) => join(dir, `${f}.test.yaml`)));
    expect(
      reports.map((r) => ({
        file: r.file.slice(dir.length + 1),
        mapping: r.mapping,
        cases: r.cases.map((c) => [c.name, c.line, c.passed]),
        error: r.error && {
          code: r.error.code,
          problems: r.error.problems.map((p) => formatProblem(p).slice(dir.length + 1)),
        },
      })),
    ).toEqual([
      {
        file: 'a.test.yaml',
        mapping: null,
        cases: [],
        error: {
          code: 'mapping.invalid',
          problems: ['a.test.yaml:2:8: cases: Too small: expected array to have >=1 items'],
        },
      },
      { file: 'b.test.yaml', mapping: 'crm@1', cases: [['a drop', 3, true]], error: null },
      {
        file: 'c.test.yaml',
        mapping: null,
        cases: [],
        error: { code: 'mapping.unreadable', problems: [] },
      },
    ]);
    expect(reports[2]?.error?.message).toMatch(
      /^Cannot read mapping file .*nowhere\.yaml: ENOENT: no such file or directory/,
    );
    expect(reports[2]?.error?.hint).toBe('check the path');
  });
});
