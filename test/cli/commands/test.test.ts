import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { folderWith } from '../../support/mappings.js';
import { runInProcess } from '../../integration/quarantine/in-process.js';

/**
 * `membrane test` on the command line: the human report with file:line for a failing case,
 * --reporter junit|json on stdout or in --output's file (the human report then on stdout),
 * the refusal of a reporter it does not know, and the exit codes. Commands run in this
 * process, as main.ts runs them.
 */

const MAPPING = `name: crm
version: 1
source: { system: crm, topics: [crm.customers], format: json }
identity: { aggregate: id, event: event_id }
events:
  - name: customer
    to: { topic: crm.customer.v1, format: json, key: id }
    map:
      id: id
      name: name
`;

const PASSING = `mapping: crm.yaml
cases:
  - name: a customer
    input: { key: '7', value: { id: '7', event_id: e1, name: Erika Mustermann } }
    expect:
      outputs: [{ topic: crm.customer.v1, contains: { name: Erika Mustermann } }]
`;

const FAILING = `mapping: crm.yaml
cases:
  - name: the full name
    input: { key: '7', value: { id: '7', event_id: e1, name: Erika Mustermann } }
    expect:
      outputs: [{ topic: crm.customer.v1, contains: { name: Erika } }]
  - name: a quarantine with its path inside
    input: { value: { event_id: e2, name: N } }
    expect: { quarantine: { code: stamp.missing-identity, path: id } }
`;

const BROKEN = `mapping: crm.yaml
cases:
  - name: a path without a quarantine
    input: { value: {} }
    expect: { drop: x, path: id }
`;

/** A folder with the mapping and the given test files; paths in the output made relative. */
async function project(files: Record<string, string>): Promise<{
  dir: string;
  run: (
    args: readonly string[],
  ) => Promise<{ code: number | null; stdout: string; stderr: string }>;
}> {
  const dir = await folderWith({ 'crm.yaml': MAPPING, ...files });
  return {
    dir,
    run: async (args) => {
      const result = await runInProcess(['test', ...args]);
      return { ...result, stdout: result.stdout.replaceAll(`${dir}/`, '') };
    },
  };
}

const HUMAN = [
  'a.test.yaml (crm@1)',
  '  ✓ a customer',
  'b.test.yaml (crm@1)',
  '  ✗ the full name (b.test.yaml:3)',
  '      outputs[0].value.name: expected "Erika", got "Erika Mustermann"',
  '  ✓ a quarantine with its path inside',
  '2 passed, 1 failed',
  '',
].join('\n');

describe('membrane test, the human report', () => {
  it('names a failing case by file:line and each difference by path; exit 1', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING, 'b.test.yaml': FAILING });
    const result = await run([dir]);
    expect(result).toEqual({ code: 1, stdout: HUMAN, stderr: '' });
  });

  it('exit 0 when every case passes; a file that cannot run is named with its problems, exit 1', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING, 'c.test.yaml': BROKEN });
    expect(await run([join(dir, 'a.test.yaml')])).toEqual({
      code: 0,
      stdout: 'a.test.yaml (crm@1)\n  ✓ a customer\n1 passed, 0 failed\n',
      stderr: '',
    });
    expect(await run([dir, '--reporter', 'human'])).toEqual({
      code: 1,
      stdout: [
        'a.test.yaml (crm@1)',
        '  ✓ a customer',
        'c.test.yaml',
        '  ✗ cannot run:',
        '      c.test.yaml:5:30: cases[0].expect.path: path belongs to a quarantine expectation: give it beside quarantine: <code>, or as quarantine: { code, path }',
        '1 passed, 0 failed, 1 test file could not run',
        '',
      ].join('\n'),
      stderr: '',
    });
  });

  it('escapes terminal control characters of a case name and a value', async () => {
    const { dir, run } = await project({
      'e.test.yaml': `mapping: crm.yaml
cases:
  - name: "bidi \u202e name"
    input: { key: '7', value: { id: '7', event_id: e1, name: "bell \u0007" } }
    expect: { outputs: [{ topic: crm.customer.v1, contains: { name: x } }] }
`,
    });
    const result = await run([dir]);
    expect(result.stdout.split('\n').slice(1, 3)).toEqual([
      '  ✗ bidi \\u202e name (e.test.yaml:3)',
      '      outputs[0].value.name: expected "x", got "bell \\\\u0007"',
    ]);
  });
});

describe('membrane test --reporter', () => {
  it('junit: XML on stdout, a testsuite per file and a testcase per case', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING, 'b.test.yaml': FAILING });
    const result = await run([dir, '--reporter', 'junit']);
    expect(result.code).toBe(1);
    expect(result.stdout.replace(/ time="[0-9.]+"/g, '')).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="membrane test" tests="3" failures="1" errors="0">',
        `  <testsuite name="a.test.yaml" tests="1" failures="0" errors="0" skipped="0" file="a.test.yaml">`,
        '    <properties>',
        '      <property name="mapping" value="crm@1"/>',
        '    </properties>',
        `    <testcase name="a customer" classname="${classOf(dir, 'a')}"/>`,
        '  </testsuite>',
        `  <testsuite name="b.test.yaml" tests="2" failures="1" errors="0" skipped="0" file="b.test.yaml">`,
        '    <properties>',
        '      <property name="mapping" value="crm@1"/>',
        '    </properties>',
        `    <testcase name="the full name" classname="${classOf(dir, 'b')}">`,
        '      <failure message="outputs[0].value.name: expected &quot;Erika&quot;, got &quot;Erika Mustermann&quot;" type="mismatch">b.test.yaml:3: the full name',
        'outputs[0].value.name: expected "Erika", got "Erika Mustermann"</failure>',
        '    </testcase>',
        `    <testcase name="a quarantine with its path inside" classname="${classOf(dir, 'b')}"/>`,
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });

  it('json: the documented shape on stdout', async () => {
    const { dir, run } = await project({ 'b.test.yaml': FAILING });
    const result = await run([dir, '--reporter', 'json']);
    expect(result.code).toBe(1);
    const file = 'b.test.yaml';
    expect(JSON.parse(result.stdout)).toEqual({
      passed: 1,
      failed: 1,
      errors: 0,
      files: [
        {
          file,
          mapping: 'crm@1',
          passed: 1,
          failed: 1,
          durationMs: expect.any(Number) as unknown,
          error: null,
          cases: [
            {
              name: 'the full name',
              file,
              line: 3,
              passed: false,
              failures: ['outputs[0].value.name: expected "Erika", got "Erika Mustermann"'],
              durationMs: expect.any(Number) as unknown,
            },
            {
              name: 'a quarantine with its path inside',
              file,
              line: 7,
              passed: true,
              failures: [],
              durationMs: expect.any(Number) as unknown,
            },
          ],
        },
      ],
    });
  });

  it('--output: the report in the file, the human report on stdout', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING, 'b.test.yaml': FAILING });
    const out = join(dir, 'report.json');
    const result = await run([dir, '--reporter', 'json', '--output', out]);
    expect(result).toEqual({ code: 1, stdout: HUMAN, stderr: '' });
    const written = JSON.parse(await readFile(out, 'utf8')) as { passed: number; failed: number };
    expect([written.passed, written.failed]).toEqual([2, 1]);
    const xml = join(dir, 'report.xml');
    expect((await run([dir, '--reporter', 'junit', '-o', xml])).stdout).toBe(HUMAN);
    expect(await readFile(xml, 'utf8')).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="membrane test" tests="3" failures="1" errors="0" time="[0-9.]+">\n/,
    );
  });

  it('refuses a reporter it does not know in one sentence naming the valid ones, before running', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING });
    expect(await run([dir, '--reporter', 'xml'])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'membrane: --reporter must be one of human, junit or json, not "xml".\n  What to do: give one of them, like --reporter junit.\n',
    });
  });

  it('says when the output file cannot be written, or a path does not exist', async () => {
    const { dir, run } = await project({ 'a.test.yaml': PASSING });
    const nowhere = join(dir, 'no-such-folder', 'report.xml');
    const unwritable = await run([dir, '--reporter', 'junit', '--output', nowhere]);
    expect(unwritable.code).toBe(1);
    expect(unwritable.stdout).toBe('');
    expect(unwritable.stderr).toMatch(
      /^membrane: Cannot write the report to .*no-such-folder\/report\.xml: ENOENT: no such file or directory.*\n {2}What to do: give --output a file in a folder that exists and is writable\.\n$/,
    );
    const missing = await run([join(dir, 'gone.test.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `membrane: ${join(dir, 'gone.test.yaml')} does not exist.\n  What to do: give test files (*.test.yaml) or folders that exist.\n`,
    );
  });
});

/** The JUnit classname of `<dir>/<name>.test.yaml`: its path without the suffix, dotted. */
function classOf(dir: string, name: string): string {
  return `${dir.replace(/^\/+/, '').replaceAll('/', '.')}.${name}`;
}
