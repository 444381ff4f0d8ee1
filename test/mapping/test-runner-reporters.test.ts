import { describe, expect, it } from 'vitest';
import type { FileReport } from '../../src/mapping/test-runner.js';
import {
  humanReport,
  jsonReport,
  junitReport,
  succeeded,
  totals,
} from '../../src/mapping/testing/reporters.js';

/**
 * The reports of `membrane test`, byte for byte: human (default), JSON and JUnit XML, from the
 * same runner results — a file with a passing and a failing case, and a file that cannot run.
 */

const NAME_DIFF = 'outputs[0].value.customer.name: expected "Erika", got "Erika Mustermann"';
const SCORE_DIFF = 'outputs[0].value.score: expected "3", got 3';

const REPORTS: FileReport[] = [
  {
    file: 'mappings/crm.test.yaml',
    mapping: 'crm@1',
    error: null,
    durationMs: 12.3456,
    cases: [
      { name: 'a customer', line: 3, passed: true, differences: [], durationMs: 1.5 },
      {
        name: 'a <wrong> name & "quotes"',
        line: 9,
        passed: false,
        differences: [NAME_DIFF, SCORE_DIFF],
        durationMs: 0.25,
      },
    ],
  },
  {
    file: 'mappings/broken.test.yaml',
    mapping: null,
    cases: [],
    durationMs: 0.5,
    error: {
      code: 'mapping.invalid',
      message:
        '1 problem in mapping files:\n  mappings/broken.test.yaml:5:13: cases[0].expect: expect exactly one of outputs, quarantine, drop',
      hint: 'fix the mapping files at the positions given',
      problems: [
        {
          file: 'mappings/broken.test.yaml',
          line: 5,
          column: 13,
          path: 'cases[0].expect',
          message: 'expect exactly one of outputs, quarantine, drop',
        },
      ],
    },
  },
];

const identity = (text: string): string => text;

describe('the human report', () => {
  it('one line per case, a failing case with its file:line and its differences, then the totals', () => {
    expect(humanReport(REPORTS, { colour: false, escape: identity })).toBe(
      [
        'mappings/crm.test.yaml (crm@1)',
        '  ✓ a customer',
        '  ✗ a <wrong> name & "quotes" (mappings/crm.test.yaml:9)',
        `      ${NAME_DIFF}`,
        `      ${SCORE_DIFF}`,
        'mappings/broken.test.yaml',
        '  ✗ cannot run:',
        '      mappings/broken.test.yaml:5:13: cases[0].expect: expect exactly one of outputs, quarantine, drop',
        '1 passed, 1 failed, 1 test file could not run',
        '',
      ].join('\n'),
    );
  });

  it('colours the marks on a terminal, and escapes text through the function given', () => {
    const [crm] = REPORTS;
    if (!crm) throw new Error('fixture');
    const text = humanReport([crm], {
      colour: true,
      escape: (s) => s.replace(/</g, '‹'),
    });
    expect(text.split('\n').slice(1, 3)).toEqual([
      '  \u001b[32m✓\u001b[39m a customer',
      '  \u001b[31m✗\u001b[39m a ‹wrong> name & "quotes" (mappings/crm.test.yaml:9)',
    ]);
  });

  it('an error without problems (an unreadable file) prints its sentence and hint', () => {
    const unreadable: FileReport = {
      file: 'gone.test.yaml',
      mapping: null,
      cases: [],
      durationMs: 0,
      error: {
        code: 'mapping.unreadable',
        message: 'Cannot read test file gone.test.yaml: ENOENT.',
        hint: 'check the path',
        problems: [],
      },
    };
    expect(humanReport([unreadable], { colour: false, escape: identity })).toBe(
      [
        'gone.test.yaml',
        '  ✗ cannot run:',
        '      Cannot read test file gone.test.yaml: ENOENT. (check the path)',
        '0 passed, 0 failed, 1 test file could not run',
        '',
      ].join('\n'),
    );
  });
});

describe('totals and success', () => {
  it('counts cases passed and failed, and files that could not run; success needs a pass and nothing else', () => {
    expect(totals(REPORTS)).toEqual({ passed: 1, failed: 1, errors: 1 });
    expect(succeeded(totals(REPORTS))).toBe(false);
    expect(succeeded({ passed: 3, failed: 0, errors: 0 })).toBe(true);
    expect(succeeded({ passed: 0, failed: 0, errors: 0 })).toBe(false);
    expect(succeeded({ passed: 3, failed: 0, errors: 1 })).toBe(false);
  });
});

describe('the JSON report', () => {
  it('has the documented shape', () => {
    expect(JSON.parse(jsonReport(REPORTS))).toEqual({
      passed: 1,
      failed: 1,
      errors: 1,
      files: [
        {
          file: 'mappings/crm.test.yaml',
          mapping: 'crm@1',
          passed: 1,
          failed: 1,
          durationMs: 12.346,
          error: null,
          cases: [
            {
              name: 'a customer',
              file: 'mappings/crm.test.yaml',
              line: 3,
              passed: true,
              failures: [],
              durationMs: 1.5,
            },
            {
              name: 'a <wrong> name & "quotes"',
              file: 'mappings/crm.test.yaml',
              line: 9,
              passed: false,
              failures: [NAME_DIFF, SCORE_DIFF],
              durationMs: 0.25,
            },
          ],
        },
        {
          file: 'mappings/broken.test.yaml',
          mapping: null,
          passed: 0,
          failed: 0,
          durationMs: 0.5,
          error: {
            code: 'mapping.invalid',
            message:
              '1 problem in mapping files:\n  mappings/broken.test.yaml:5:13: cases[0].expect: expect exactly one of outputs, quarantine, drop',
            hint: 'fix the mapping files at the positions given',
            problems: [
              {
                file: 'mappings/broken.test.yaml',
                line: 5,
                column: 13,
                path: 'cases[0].expect',
                message: 'expect exactly one of outputs, quarantine, drop',
                hint: null,
              },
            ],
          },
          cases: [],
        },
      ],
    });
  });

  it('writes terminal-unsafe code points as \\u escapes: raw text safe to print, the same strings parsed', () => {
    const name = 'bidi \u202e override, bell \u0007, zero width \u200b';
    const text = jsonReport([
      {
        file: 'x.test.yaml',
        mapping: 'x@1',
        error: null,
        durationMs: 0,
        cases: [{ name, line: 1, passed: true, differences: [], durationMs: 0 }],
      },
    ]);
    expect(text).toContain('"name": "bidi \\u202e override, bell \\u0007, zero width \\u200b"');
    for (const char of ['\u202e', '\u0007', '\u200b']) expect(text).not.toContain(char);
    expect(
      (JSON.parse(text) as { files: { cases: { name: string }[] }[] }).files[0]?.cases[0]?.name,
    ).toBe(name);
  });
});

describe('the JUnit XML report', () => {
  it('a testsuite per file, a testcase per case, a failure opening with the file:line of the case, errors', () => {
    expect(junitReport(REPORTS)).toBe(
      [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<testsuites name="membrane test" tests="3" failures="1" errors="1" time="0.013">',
        '  <testsuite name="mappings/crm.test.yaml" tests="2" failures="1" errors="0" skipped="0" time="0.012" file="mappings/crm.test.yaml">',
        '    <properties>',
        '      <property name="mapping" value="crm@1"/>',
        '    </properties>',
        '    <testcase name="a customer" classname="mappings.crm" time="0.002"/>',
        '    <testcase name="a &lt;wrong&gt; name &amp; &quot;quotes&quot;" classname="mappings.crm" time="0.000">',
        '      <failure message="outputs[0].value.customer.name: expected &quot;Erika&quot;, got &quot;Erika Mustermann&quot;" type="mismatch">mappings/crm.test.yaml:9: a &lt;wrong&gt; name &amp; "quotes"',
        NAME_DIFF,
        `${SCORE_DIFF}</failure>`,
        '    </testcase>',
        '  </testsuite>',
        '  <testsuite name="mappings/broken.test.yaml" tests="1" failures="0" errors="1" skipped="0" time="0.001" file="mappings/broken.test.yaml">',
        '    <testcase name="mappings/broken.test.yaml" classname="mappings.broken" time="0.001">',
        '      <error message="mappings/broken.test.yaml:5:13: cases[0].expect: expect exactly one of outputs, quarantine, drop" type="mapping.invalid">mappings/broken.test.yaml:5:13: cases[0].expect: expect exactly one of outputs, quarantine, drop</error>',
        '    </testcase>',
        '  </testsuite>',
        '</testsuites>',
        '',
      ].join('\n'),
    );
  });

  it('keeps text as character references a parser reads back; what XML cannot carry becomes \\u{…} text', () => {
    const text = junitReport([
      {
        file: 'x.test.yaml',
        mapping: 'x@1',
        error: null,
        durationMs: 0,
        cases: [
          {
            name: 'bidi \u202e, bell \u0007, tab\t, lone \ud800',
            line: 1,
            passed: false,
            differences: ['a\nb'],
            durationMs: 0,
          },
        ],
      },
    ]);
    expect(text).toContain(
      '<testcase name="bidi &#x202e;, bell \\u{7}, tab&#x9;, lone \\u{d800}" classname="x" time="0.000">',
    );
    expect(text).toContain(
      '<failure message="a&#xa;b" type="mismatch">x.test.yaml:1: bidi &#x202e;, bell \\u{7}, tab\t, lone \\u{d800}\na\nb</failure>',
    );
  });
});
