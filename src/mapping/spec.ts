import { z } from 'zod';
import { expressionSyntaxError } from '../pipeline/stages/upcast.js';

/**
 * The mapping file format. One zod schema is the single source of truth: it validates
 * mapping files, and `membrane schema` turns it into the JSON Schema editors use.
 */

const FIELD_PATH = /^[A-Za-z_$][\w$-]*(\[\d+\])?(\.[A-Za-z_$][\w$-]*(\[\d+\])?)*$/;

/**
 * Names that would reach an object's prototype machinery if a path wrote through them
 * (`__proto__.polluted`, `constructor.prototype.x`): refused in every field path and output
 * field name, so no mapping can touch `Object.prototype`.
 */
export const RESERVED_NAMES: readonly string[] = ['__proto__', 'constructor', 'prototype'];
const reservedIn = (path: string): string | undefined =>
  path.split(/[.[\]]/).find((segment) => RESERVED_NAMES.includes(segment));
const notReserved = (path: string, ctx: z.core.$RefinementCtx<string>): void => {
  const reserved = reservedIn(path);
  if (reserved !== undefined)
    ctx.addIssue({
      code: 'custom',
      message: `uses the reserved name \`${reserved}\` (${RESERVED_NAMES.join(', ')} cannot be field names)`,
    });
};

export const fieldPath = z
  .string()
  .regex(
    FIELD_PATH,
    'is not a field path (like `order_id`, `customer.address.city`, `lines[0].sku`)',
  )
  .superRefine(notReserved)
  .describe('A field path: names separated by dots, with [n] for an array element.');

/** An output field name (a key of `map`). */
const outputField = z.string().superRefine(notReserved);

const name = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]*$/,
    'must be lower-case letters, digits and dashes, starting with a letter',
  );

const json = z.json();

export const CASTS = [
  'string',
  'int',
  'long',
  'double',
  'decimal',
  'boolean',
  'timestamp',
  'date',
] as const;

export interface FieldObjectInput {
  from?: string | undefined;
  const?: z.core.util.JSONType | undefined;
  expr?: string | undefined;
  each?: string | undefined;
  map?: Record<string, FieldSpecInput> | undefined;
  default?: z.core.util.JSONType | undefined;
  optional?: boolean | undefined;
  as?: (typeof CASTS)[number] | undefined;
  scale?: number | undefined;
  format?: string | undefined;
  zone?: string | undefined;
  lookup?: Record<string, z.core.util.JSONType> | undefined;
  unit?: { from: string; to: string } | undefined;
}
export type FieldSpecInput = string | FieldObjectInput;

const fieldObject: z.ZodType<FieldObjectInput> = z
  .strictObject({
    from: fieldPath.optional().describe('The upstream field to read.'),
    const: json.optional().describe('A constant value.'),
    expr: z.string().optional().describe('A CEL expression over the upstream record.'),
    each: fieldPath.optional().describe('An upstream array; `map` translates each element.'),
    get map() {
      return z
        .record(outputField, fieldSpec)
        .optional()
        .describe('With `each`: the fields of each output element, read from the element.');
    },
    default: json.optional().describe('Used when the upstream field is missing or null.'),
    optional: z
      .boolean()
      .optional()
      .describe('Leave the field out (null) when missing, instead of quarantining.'),
    as: z
      .enum(CASTS)
      .optional()
      .describe(
        'Cast the value (strictly): string, int, long, double, decimal, boolean, timestamp, date.',
      ),
    scale: z
      .int()
      .min(0)
      .max(18)
      .optional()
      .describe('With `as: decimal`: the result is the exact integer value × 10^scale.'),
    format: z
      .string()
      .optional()
      .describe(
        'With `as: timestamp` or `date`: the upstream format, e.g. `dd.MM.yyyy HH:mm` (Luxon tokens). Default ISO 8601.',
      ),
    zone: z
      .string()
      .optional()
      .describe('With `as: timestamp`: the IANA zone of local upstream times, e.g. Europe/Berlin.'),
    lookup: z
      .record(z.string(), json)
      .optional()
      .describe(
        'A code table: upstream value → our value. Unknown codes quarantine unless `default` is set.',
      ),
    unit: z
      .strictObject({ from: z.string(), to: z.string() })
      .optional()
      .describe('Unit conversion, e.g. { from: g, to: kg }.'),
  })
  .superRefine((field, ctx) => {
    const sources = (['from', 'const', 'expr', 'each'] as const).filter(
      (key) => field[key] !== undefined,
    );
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message:
          sources.length === 0
            ? 'needs one of `from`, `const`, `expr` or `each`'
            : `has ${sources.map((s) => `\`${s}\``).join(' and ')}; use exactly one`,
      });
    }
    if (field.map !== undefined && field.each === undefined) {
      ctx.addIssue({ code: 'custom', path: ['map'], message: '`map` belongs with `each`' });
    }
    if (field.each !== undefined && field.map === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['each'],
        message: '`each` needs a `map` for the elements',
      });
    }
    if (field.scale !== undefined && field.as !== 'decimal') {
      ctx.addIssue({ code: 'custom', path: ['scale'], message: '`scale` goes with `as: decimal`' });
    }
    if (
      (field.format !== undefined || field.zone !== undefined) &&
      field.as !== 'timestamp' &&
      field.as !== 'date'
    ) {
      ctx.addIssue({
        code: 'custom',
        path: [field.format !== undefined ? 'format' : 'zone'],
        message: '`format` and `zone` go with `as: timestamp` or `as: date`',
      });
    }
  });

export const fieldSpec: z.ZodType<FieldSpecInput> = z.union([fieldPath, fieldObject]);

const target = z.strictObject({
  topic: z.string().min(1).describe('The downstream topic.'),
  format: z
    .enum(['avro', 'json'])
    .default('avro')
    .describe('Encoding of the value (Avro: Confluent wire format).'),
  schema: z
    .string()
    .optional()
    .describe(
      'The Avro schema file (.avsc), relative to the mapping file (not the working directory); required for avro.',
    ),
  key: fieldPath.optional().describe('The translated field whose value is the record key.'),
});

const invariant = z.strictObject({
  name,
  rule: z
    .string()
    .min(1)
    .describe('A CEL expression over the translated record that must be true.'),
  message: z.string().optional().describe('What a failure means, for operators.'),
});

const route = z
  .strictObject({
    name,
    when: z
      .string()
      .min(1)
      .optional()
      .describe('A CEL condition over the upstream record; absent: always.'),
    drop: z
      .string()
      .min(1)
      .optional()
      .describe('Drop matching records on purpose, with this reason.'),
    to: z
      .union([target, z.array(target).min(1)])
      .optional()
      .describe('Where translated records go; a list fans one record out to several targets.'),
    map: z
      .record(outputField, fieldSpec)
      .optional()
      .describe('The translated record, field by field.'),
    invariants: z
      .array(invariant)
      .default([])
      .describe('Business rules the translated record must satisfy.'),
  })
  .superRefine((r, ctx) => {
    if (r.drop !== undefined && (r.to !== undefined || r.map !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['drop'],
        message: 'a route either drops or translates (`to` + `map`), not both',
      });
    }
    if (r.drop === undefined && (r.to === undefined || r.map === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [r.to === undefined ? 'to' : 'map'],
        message: 'a translating route needs both `to` and `map` (or use `drop: <reason>`)',
      });
    }
  });

/** A CEL expression, parsed when the mapping is loaded: a syntax error is a mapping problem. */
const celExpression = z
  .string()
  .min(1)
  .superRefine((source, ctx) => {
    const error = expressionSyntaxError(source);
    if (error !== undefined) ctx.addIssue({ code: 'custom', message: error });
  });

/**
 * One upcast step, version N → N+1. Its operations run in a fixed order, whatever the order
 * of the keys in the file: rename → default → set → compute → remove.
 */
const upcastStep = z
  .strictObject({
    rename: z
      .record(fieldPath, fieldPath)
      .optional()
      .describe('Old field path → new field path (1st).'),
    default: z
      .record(fieldPath, json)
      .optional()
      .describe('Field path → value, where the field is missing or null (2nd).'),
    set: z.record(fieldPath, json).optional().describe('Field path → value, always (3rd).'),
    compute: z
      .record(fieldPath, celExpression)
      .optional()
      .describe(
        'Field path → CEL expression over the record as rename, default and set left it: its top-level fields are variables, plus `record`. All expressions of a step read the same record (4th). A failure quarantines the record as upcast.compute-failed.',
      ),
    remove: z.array(fieldPath).optional().describe('Field paths to remove (5th, last).'),
  })
  .superRefine((step, ctx) => {
    for (const path of Object.keys(step.compute ?? {})) {
      if (step.set !== undefined && Object.hasOwn(step.set, path))
        ctx.addIssue({
          code: 'custom',
          path: ['compute', path],
          message: `${path} is both set and computed in this step; keep one`,
        });
      if (step.remove?.includes(path))
        ctx.addIssue({
          code: 'custom',
          path: ['compute', path],
          message: `${path} is computed, then removed (remove runs last); keep one`,
        });
    }
  });

const headerOrField = z
  .strictObject({ header: z.string().optional(), field: fieldPath.optional() })
  .refine(
    (v) => (v.header === undefined) !== (v.field === undefined),
    'give either `header` or `field`',
  );

export const mappingSpec = z.strictObject({
  $schema: z.string().optional(),
  name: name.describe('The mapping name; it namespaces the deterministic IDs.'),
  version: z
    .int()
    .positive()
    .describe('Bump it on every change; stamped on every output and quarantine record.'),
  description: z.string().optional(),
  source: z
    .strictObject({
      system: name.describe('The upstream system, e.g. legacy-erp.'),
      topics: z
        .array(z.string().min(1))
        .min(1)
        .describe('Upstream topics; several must be co-partitioned.'),
      format: z
        .enum(['json', 'avro', 'avro-binary'])
        .describe(
          'json; avro = Confluent wire format through the schema registry; avro-binary = plain Avro with `schema`.',
        ),
      schema: z
        .string()
        .optional()
        .describe(
          'A schema file, relative to the mapping file. With avro, a reader schema (.avsc) writer schemas are resolved to; required with avro-binary. With json, a JSON Schema or an Avro schema that types the expressions `membrane validate` checks (records are not validated against it).',
        ),
    })
    .refine((s) => s.format !== 'avro-binary' || s.schema !== undefined, {
      path: ['schema'],
      message: '`format: avro-binary` needs `schema`',
    }),
  trust: z
    .strictObject({
      allow: z
        .strictObject({
          header: z.string().min(1),
          values: z.array(z.string()).min(1),
        })
        .optional()
        .describe('Only records whose header has one of these values are let in.'),
      signature: z
        .strictObject({
          algorithm: z.enum(['hmac-sha256', 'ed25519']),
          header: z.string().min(1).describe('The header carrying the base64 signature.'),
          keyIdHeader: z.string().min(1).describe('The header naming the key, so keys can rotate.'),
          covers: z
            .array(z.string().min(1))
            .default([])
            .describe('Headers signed together with the value bytes, in this order.'),
          keys: z
            .record(z.string().min(1), z.string().min(1))
            .refine((keys) => Object.keys(keys).length > 0, 'needs at least one key')
            .describe(
              'Key ID → HMAC secret, or Ed25519 public key (PEM or base64 of the raw 32 bytes). Use ${env:NAME}.',
            ),
        })
        .optional(),
    })
    .optional(),
  identity: z
    .strictObject({
      aggregate: fieldPath
        .optional()
        .describe('The upstream field naming the aggregate: orders and clocks records.'),
      event: fieldPath
        .optional()
        .describe('The upstream event ID; without it, IDs come from topic/partition/offset.'),
      correlation: headerOrField.optional(),
      causation: headerOrField.optional(),
      clock: z
        .strictObject({
          header: z.string().optional(),
          field: fieldPath.optional(),
          onConcurrent: z
            .enum(['flag', 'quarantine'])
            .default('flag')
            .describe(
              'An upstream clock concurrent with the aggregate’s: flag the output (membrane.concurrent) or quarantine.',
            ),
          maxComponents: z
            .int()
            .min(1)
            .max(1000)
            .default(32)
            .describe('Upstream clocks with more components are refused (stamp.invalid-clock).'),
        })
        .refine(
          (v) => (v.header === undefined) !== (v.field === undefined),
          'give either `header` or `field`',
        )
        .optional()
        .describe('Where an upstream vector clock is carried, if any, and what to do with it.'),
    })
    .default({}),
  upcast: z
    .strictObject({
      field: fieldPath.describe('The upstream field carrying the shape version.'),
      current: z.int().positive().describe('The version the routes expect.'),
      steps: z
        .record(z.string().regex(/^\d+$/, 'must be a version number'), upcastStep)
        .describe(
          'Version N → N+1, each step in this order: rename, default, set, compute, remove.',
        ),
    })
    .optional(),
  events: z
    .array(route)
    .min(1)
    .describe('Routes, tried in order; the first whose `when` holds wins.'),
  otherwise: z
    .union([z.literal('quarantine'), z.strictObject({ drop: z.string().min(1) })])
    .default('quarantine')
    .describe('What happens to a record no route matches.'),
});
// A route name used twice: checkMeaning (check/meaning.ts) reports it, with the other problems.

export type MappingSpec = z.output<typeof mappingSpec>;
export type RouteSpec = MappingSpec['events'][number];
export type TargetSpec = z.output<typeof target>;

/** The JSON Schema of mapping files, for editors (`membrane schema`). */
export function mappingJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(mappingSpec, { io: 'input', unrepresentable: 'any' }),
    title: 'membrane mapping',
  };
}
