import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { BASE_MAPPING, folderWith } from '../../support/mappings.js';

const env = { PATH: process.env['PATH'], HOME: process.env['HOME'] };

describe('membrane validate checks meaning', () => {
  it('prints every problem of every file at once, each with file:line:col and a hint', async () => {
    const dir = await folderWith({
      'a-good.yaml': BASE_MAPPING,
      'b-route.yaml': BASE_MAPPING.replace(
        '  - name: placed\n',
        '  - name: placed\n    when: order_id == U\n',
      ).concat(
        "      at: { from: created, as: timestamp, format: 'DD.MM.yyyy', zone: Europe/Berln }\n",
      ),
      'c-shape.yaml': `${BASE_MAPPING}      amount: { from: amt, as: money }\n    invariants:\n      - { name: known, rule: 'emial != ""' }\n`,
      'd-yaml.yaml': BASE_MAPPING.replace('  event: event_id', ' event: event_id'),
    });
    const result = await runCli(['validate', dir], env);
    const file = (name: string): string => join(dir, name);
    expect(result.stdout).toBe(
      [
        `ok    ${file('a-good.yaml')} (orders@1: erp.orders → sales.placed)`,
        `FAIL  ${file('b-route.yaml')}`,
        `  ${file('b-route.yaml')}:12:23: events[0].when: U is not a field; did you mean the string 'U'? (text in CEL is quoted: order_id == 'U')`,
        `  ${file('b-route.yaml')}:17:52: events[0].map.at.format: \`DD\` is not a part of a date in Luxon: it is a whole localized date (like "Aug 6, 2014") (use \`dd\` for the two-digit day of the month (01–31))`,
        `  ${file('b-route.yaml')}:17:71: events[0].map.at.zone: unknown time zone "Europe/Berln" (did you mean Europe/Berlin? zones are IANA names like Europe/Berlin)`,
        `FAIL  ${file('c-shape.yaml')}`,
        `  ${file('c-shape.yaml')}:16:32: events[0].map.amount.as: Invalid option: expected one of "string"|"int"|"long"|"double"|"decimal"|"boolean"|"timestamp"|"date" (did you mean "long"?)`,
        `  ${file('c-shape.yaml')}:18:31: events[0].invariants[0].rule: emial is not a field of the translated record (its fields: orderId, total, amount; rules read the translated record’s fields (the keys of map); the upstream record is record)`,
        `FAIL  ${file('d-yaml.yaml')}`,
        `  ${file('d-yaml.yaml')}:9:1: All mapping items must start at the same column (the keys of one mapping must line up in the same column: indent this line like its siblings (two spaces per level), or further to nest it under the key above)`,
        '1 valid, 3 invalid',
        '',
      ].join('\n'),
    );
    expect(result.code).toBe(1);
  });

  it('says in one sentence that a path does not exist, exit 1 (not a bug with a stack)', async () => {
    const dir = await folderWith({});
    const missing = join(dir, 'no-such-mapping.yaml');
    const result = await runCli(['validate', missing], { ...env, NO_COLOR: '1' });
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `membrane: ${missing} does not exist.\n  What to do: give mapping files (*.yaml) or folders that exist.\n`,
    );
    expect(result.code).toBe(1);
  });
});
