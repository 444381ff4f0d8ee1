import { describe, expect, it } from 'vitest';
import { loadMappingText, MappingError } from '../../src/mapping/load.js';
import { BASE_MAPPING, problemsOf } from '../support/mappings.js';

describe('loading mapping files', () => {
  it('accepts the base mapping', async () => {
    expect(await problemsOf(BASE_MAPPING)).toEqual([]);
  });

  it('names file, line, column and key path of a typo, with the nearest valid key', () => {
    const text = BASE_MAPPING.replace('  event: event_id', '  evnt: event_id');
    let error: unknown;
    try {
      loadMappingText(text, 'mappings/orders.yaml', {});
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(MappingError);
    expect((error as MappingError).message).toContain(
      'mappings/orders.yaml:9:3: identity.evnt: unknown key "evnt" (did you mean "event"?',
    );
  });

  it('reports several problems at once, each where it is', async () => {
    const text = BASE_MAPPING.replace('format: json\n', 'format: jsno\n')
      .replace('scale: 2', 'scale: -1')
      .replace('version: 1', 'version: one');
    expect(await problemsOf(text)).toEqual([
      '2:10 version: Invalid input: expected number, received string',
      '6:11 source.format: Invalid option: expected one of "json"|"avro"|"avro-binary" (did you mean "json"?)',
      '15:49 events[0].map.total.scale: Too small: expected number to be >=0',
    ]);
  });

  it('refuses __proto__, constructor and prototype as keys and path segments, each where it is', async () => {
    const text = BASE_MAPPING.replace('  aggregate: order_id', '  aggregate: customer.__proto__.id')
      .replace('      orderId: order_id', '      orderId: order_id\n      __proto__: { const: 1 }')
      .concat(
        'upcast:\n  field: v\n  current: 2\n  steps:\n    "1":\n',
        "      set: { constructor.prototype.polluted: 'yes' }\n",
        '      rename: { a: "lines[0].prototype" }\n',
      );
    const problems = await problemsOf(text);
    expect(problems).toEqual([
      '8:14 identity.aggregate: uses the reserved name `__proto__` (__proto__, constructor, prototype cannot be field names)',
      '15:7 events[0].map.__proto__: the key `__proto__` is reserved (__proto__, constructor, prototype cannot be keys or field names)',
      '22:14 upcast.steps.1.set.constructor.prototype.polluted: key uses the reserved name `constructor` (__proto__, constructor, prototype cannot be field names)',
      '23:20 upcast.steps.1.rename.a: uses the reserved name `prototype` (__proto__, constructor, prototype cannot be field names)',
    ]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('says a required key is missing, at its parent', async () => {
    expect(await problemsOf(BASE_MAPPING.replace('version: 1\n', ''))).toEqual([
      '1:1 version: is required',
    ]);
  });

  it('reports YAML syntax errors with their position, explained', async () => {
    expect(await problemsOf(`${BASE_MAPPING}  - name: [unclosed\n`)).toEqual([
      '17:1 : Flow sequence in block collection must be sufficiently indented and end with a ] (a [ is not closed: end it with ] on the same line, or indent the lines it continues on)',
    ]);
  });

  it('interpolates ${env:NAME}, names a missing variable, and never shows a secret', async () => {
    const text = BASE_MAPPING.replace(
      'identity:',
      'trust:\n  signature: { algorithm: hmac-sha256, header: x-sig, keyIdHeader: x-kid, keys: { k1: "${env:KEY_ONE}", k2: "${env:KEY_TWO}" } }\nidentity:',
    );
    const problems = await problemsOf(text, { env: { KEY_ONE: 'super-secret-value' } });
    expect(problems).toEqual([
      '8:109 trust.signature.keys.k2: environment variable KEY_TWO is not set (set KEY_TWO, or change the ${env:KEY_TWO} reference)',
    ]);
    expect(problems.join()).not.toContain('super-secret-value');
    const loaded = loadMappingText(text, 'm.yaml', { KEY_ONE: 'a', KEY_TWO: 'b' });
    expect(loaded.spec.trust?.signature?.keys).toEqual({ k1: 'a', k2: 'b' });
  });

  it('checks field shapes: one source per field, `each` with `map`, casts with their options', async () => {
    const text = BASE_MAPPING.replace(
      '      total: { from: total, as: decimal, scale: 2 }\n',
      '      a: { from: x, const: 1 }\n      b: { each: items }\n      c: { from: y, format: dd.MM.yyyy }\n      d: { from: z, as: integer }\n',
    );
    expect(await problemsOf(text)).toEqual([
      '15:10 events[0].map.a: has `from` and `const`; use exactly one',
      '16:18 events[0].map.b.each: `each` needs a `map` for the elements',
      '17:29 events[0].map.c.format: `format` and `zone` go with `as: timestamp` or `as: date`',
      expect.stringMatching(
        /^18:25 events\[0\]\.map\.d\.as: Invalid option: .* \(did you mean "int"\?\)$/,
      ),
    ]);
  });
});
