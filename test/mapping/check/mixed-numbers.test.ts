import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';

/**
 * Found by a review (review13): the checker types JSON Schema `number`, Avro `float`/`double`,
 * `as: double` and `unit` as CEL `double`, but a JSON number carries no type and whole values
 * reach CEL as `int`: double arithmetic that type-checked (`score * 1.5`) failed with "no such
 * overload: dyn<int> * double" for exactly the records whose value was whole. Mapping
 * expressions now run (and are checked) with arithmetic and equality between int and double
 * (src/pipeline/cel.ts withMixedNumbers). Each case: `validate`, then `membrane try`.
 */
const env = { ...process.env, NO_COLOR: '1' };
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mixed-numbers-'));
  await writeFile(
    join(dir, 'contact.json'),
    JSON.stringify({
      type: 'object',
      properties: {
        event_id: { type: 'string' },
        contact_id: { type: 'string' },
        rec_type: { type: 'string' },
        score: { type: 'number' },
      },
    }),
  );
  await writeFile(
    join(dir, 'contact.avsc'),
    JSON.stringify({
      type: 'record',
      name: 'Contact',
      fields: [
        { name: 'event_id', type: 'string' },
        { name: 'score', type: 'double' },
        { name: 'weight', type: 'float' },
      ],
    }),
  );
});

async function mapping(name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

async function value(name: string, json: unknown): Promise<string> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(json));
  return file;
}

const HEAD = (name: string, format: string, schema: string): string => `name: ${name}
version: 1
source:
  system: crm
  topics: [crm.contacts]
  format: ${format}
  schema: ${schema}
identity:
  event: event_id
`;

describe('numbers in mapping expressions, whole or not', { timeout: 180_000 }, () => {
  it('double arithmetic on a JSON Schema number type-checks and runs for whole and fractional values', async () => {
    const file = await mapping(
      'json-number',
      `${HEAD('crm-json', 'json', 'contact.json')}events:
  - name: c
    when: rec_type == "U" && score * 1.5 > 10.0
    to: { topic: crm.c.v1, format: json }
    map:
      id: contact_id
`,
    );
    const validated = await runCli(['validate', file], env);
    expect(validated.stdout).toContain('1 valid, 0 invalid');
    const whole = await runCli(
      [
        'try',
        file,
        await value('whole', { event_id: 'e', contact_id: 'c', rec_type: 'U', score: 10 }),
      ],
      env,
    );
    expect(whole.code, whole.stdout).toBe(0);
    expect(whole.stdout).toContain('output 1 of 1');
    const fraction = await runCli(
      [
        'try',
        file,
        await value('frac', { event_id: 'e', contact_id: 'c', rec_type: 'U', score: 10.5 }),
      ],
      env,
    );
    expect(fraction.code).toBe(0);
  });

  it('an Avro double field and an `as: double` + unit field run double arithmetic whole or not', async () => {
    const file = await mapping(
      'avro-double',
      `${HEAD('crm-avro', 'avro', 'contact.avsc')}events:
  - name: c
    to: { topic: crm.c.v1, format: json }
    map:
      score: { expr: 'score * 2.0' }
      weightKg: { from: weight, as: double, unit: { from: g, to: kg } }
    invariants:
      - { name: light, rule: 'weightKg * 1000.0 < 100000.0' }
`,
    );
    expect((await runCli(['validate', file], env)).stdout).toContain('1 valid, 0 invalid');
    const run = async (score: number, weight: number): Promise<string> =>
      (
        await runCli(
          ['try', file, await value(`avro-${score}-${weight}`, { event_id: 'e', score, weight })],
          env,
        )
      ).stdout;
    expect(await run(10.5, 1500)).toContain('output 1 of 1');
    expect(await run(10, 1500)).toContain('output 1 of 1');
    expect(await run(10.5, 2000)).toContain('output 1 of 1');
    expect(await run(10, 200_000)).toContain('validate.invariant');
  });

  it('validate accepts equality between a double field and an int literal', async () => {
    const file = await mapping(
      'json-equal',
      `${HEAD('crm-eq', 'json', 'contact.json')}events:
  - name: c
    when: score == 10 && score != 2.5
    to: { topic: crm.c.v1, format: json }
    map:
      id: contact_id
`,
    );
    const validated = await runCli(['validate', file], env);
    expect(validated.stdout, validated.stderr).toContain('1 valid, 0 invalid');
    const ten = await runCli(
      ['try', file, await value('ten', { event_id: 'e', contact_id: 'c', score: 10 })],
      env,
    );
    expect(ten.stdout).toContain('output 1 of 1');
  });
});
