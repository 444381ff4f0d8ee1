import { z } from 'zod';
import { ISSUE_CODES } from '../../core/issues.js';

/**
 * The schema of mapping test files (`*.test.yaml`, run by `membrane test`): upstream records
 * and what must come out of the mapping for each. The same schema validates the files (with
 * file:line:col for every problem, see load.ts) and generates schemas/mapping-test.schema.json
 * for editors, so the two cannot disagree.
 */

const rawBytes = z
  .strictObject({
    text: z.string().optional().describe('The value as UTF-8 text.'),
    hex: z.string().optional().describe('The value in hexadecimal.'),
    base64: z.string().optional().describe('The value in base64.'),
  })
  .refine(
    (r) => [r.text, r.hex, r.base64].filter((v) => v !== undefined).length === 1,
    'give one of text, hex, base64',
  );

const avroInput = z.strictObject({
  schema: z
    .string()
    .optional()
    .describe('The writer schema (.avsc) the value is written with, relative to the test file.'),
  schemaId: z.int().optional().describe('Override the schema ID in the wire header.'),
  magic: z.int().min(0).max(255).optional().describe('Override the magic byte.'),
});

const input = z.strictObject({
  topic: z.string().optional().describe("The upstream topic; default the mapping's first."),
  partition: z.int().min(0).optional().describe('The upstream partition; default 0.'),
  timestamp: z
    .string()
    .optional()
    .describe('The record timestamp, milliseconds since the epoch; default 1763800000000.'),
  key: z.string().nullable().optional().describe('The record key as text; null: no key.'),
  headers: z
    .record(z.string(), z.string())
    .optional()
    .describe('Headers; merged with the defaults, a case header wins.'),
  value: z
    .json()
    .optional()
    .describe('An object: encoded as the mapping reads it (JSON or Avro); null: a tombstone.'),
  raw: rawBytes.optional().describe('Exact value bytes instead of value.'),
  avro: avroInput.optional().describe('How an Avro value is written.'),
  sign: z
    .union([z.string(), z.literal(false)])
    .optional()
    .describe('Sign with this HMAC key ID of the mapping; false: do not sign.'),
  truncate: z.int().min(0).optional().describe('Keep only the first N bytes of the encoded value.'),
});

/** A JSON value the mapping produced must equal (`value`) or contain (`contains`). */
const payloadObject = z.record(z.string(), z.json());

const expectedOutput = z
  .strictObject({
    topic: z.string().describe('The output topic.'),
    key: z.string().nullable().optional().describe('The output key as text; null: no key.'),
    value: z
      .json()
      .optional()
      .describe(
        'The whole output value: every field, no more (use contains to check only some fields).',
      ),
    contains: payloadObject
      .optional()
      .describe(
        'Fields the output value must contain: objects by subset, at any depth; arrays element by element, of the same length; other values exactly.',
      ),
    headers: z
      .record(z.string(), z.string().nullable())
      .optional()
      .describe('Headers the output must carry, by name (others are not checked); null: absent.'),
  })
  .refine((o) => o.value === undefined || o.contains === undefined, {
    message:
      'give value (the whole value) or contains (only the fields given), not both for one output',
    path: ['contains'],
  });

const issueCode = z
  .enum(ISSUE_CODES, {
    error: "is not one of membrane's issue codes (the README lists them under Quarantine codes)",
  })
  // One definition in the JSON Schema ($defs/IssueCode), used by both forms of quarantine.
  .meta({ id: 'IssueCode', description: 'The expected issue code, e.g. trust.signature-invalid.' });

const issueFields = {
  path: z
    .string()
    .optional()
    .describe(
      "The field path the issue names, as quarantine show prints it (e.g. line_items[1].qty); '' for the whole record.",
    ),
  rule: z.string().optional().describe('For validate.invariant: the name of the rule.'),
  message: z.string().optional().describe('A part of the issue message.'),
};

const quarantineObject = z.strictObject({ code: issueCode, ...issueFields });

const expectation = z
  .strictObject({
    outputs: z
      .array(expectedOutput)
      .optional()
      .describe('The records the mapping must produce, in order, and no others.'),
    quarantine: z
      .union([issueCode, quarantineObject])
      .optional()
      .describe(
        'The record must be quarantined with an issue of this code; its path, rule and message go beside quarantine or inside it (quarantine: { code, path }), or some in each place; each one once.',
      ),
    ...issueFields,
    drop: z.string().optional().describe('The record must be dropped; a part of the reason.'),
  })
  .superRefine((e, ctx) => {
    if ([e.outputs, e.quarantine, e.drop].filter((v) => v !== undefined).length !== 1)
      ctx.addIssue({ code: 'custom', message: 'expect exactly one of outputs, quarantine, drop' });
    for (const field of ['path', 'rule', 'message'] as const) {
      if (e[field] === undefined) continue;
      if (e.quarantine === undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} belongs to a quarantine expectation: give it beside quarantine: <code>, or as quarantine: { code, ${field} }`,
        });
      else if (typeof e.quarantine === 'object' && e.quarantine[field] !== undefined)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `${field} is given twice: inside quarantine: { … } and beside it; keep one`,
        });
    }
  });

export const testFileSpec = z.strictObject({
  mapping: z.string().describe('The mapping file, relative to this file.'),
  env: z
    .record(z.string(), z.string())
    .default({})
    .describe('Environment for ${env:…} in the mapping.'),
  defaults: input.default({}).describe('Merged into every case input.'),
  cases: z
    .array(
      z.strictObject({
        name: z.string().describe('What the case shows; printed by membrane test.'),
        input: input.describe('The upstream record.'),
        expect: expectation.describe('What must come out: outputs, a quarantine or a drop.'),
      }),
    )
    .min(1)
    .describe('The records to run through the mapping, each with what must come out.'),
});

export type TestFileSpec = z.output<typeof testFileSpec>;
export type CaseInput = z.output<typeof input>;
export type Expectation = z.output<typeof expectation>;
export type ExpectedOutput = z.output<typeof expectedOutput>;

/** The JSON Schema of test files, for editors (`membrane schema --test-file`). */
export function mappingTestJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(testFileSpec, { io: 'input', unrepresentable: 'any' }),
    title: 'membrane mapping test',
  };
}
