import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { projectRoot } from '../../../src/infra/paths.js';
import { hmacSignature } from '../../../src/pipeline/stages/trust.js';
import type { CliResult } from '../../support/cli.js';
import { folderWith } from '../../support/mappings.js';
import { runInProcess } from '../../integration/quarantine/in-process.js';

/**
 * `membrane try` on the example mappings (mappings/): a JSON mapping with an HMAC signature
 * and an upcast (legacy-orders), an Avro one through the registry (wms-stock, its writer
 * schemas registered in memory). Commands run in this process, as main.ts runs them.
 */

const ORDERS = 'mappings/legacy-orders.yaml';
const STOCK = 'mappings/wms-stock.yaml';
const ORDER = {
  event_id: 'erp-000123',
  type: 'C',
  schema_version: 2,
  order_id: '4711',
  customer_no: 'K-0042',
  total_amount: '149.90',
  currency_code: 'CHF',
  created: '21.11.2026 14:05',
  status: 'N',
  line_items: [{ sku: 'SKU-1', qty: '2', unit_price: '49.95' }],
};
const ADJUSTMENT = {
  adjustment_id: 'adj-1',
  sku: 'SKU-1',
  warehouse_id: 'WH-BER',
  delta_qty: -3,
  reason_code: 'DMG',
  occurred_at: 1782900000000,
  lot: 'L-77',
};
/** What the legacy-orders mapping needs to let a record in: its source header, signed. */
const TRUSTED = ['--header', 'x-source-system=legacy-erp', '--sign', 'k1'];
const AT = ['--timestamp', '1795266300000'];

/** `membrane try …` in process, the value on stdin. */
async function tryWith(stdin: string | Buffer, args: readonly string[]): Promise<CliResult> {
  const stream = Readable.from([Buffer.from(stdin)]);
  const spy = vi
    .spyOn(process, 'stdin', 'get')
    .mockReturnValue(stream as unknown as typeof process.stdin);
  try {
    return await runInProcess(['try', ...args]);
  } finally {
    spy.mockRestore();
  }
}

const json = (value: unknown): string => JSON.stringify(value);

/** What `--json` prints. */
interface Report {
  readonly mapping: string;
  readonly topic: string;
  readonly result: string;
  readonly stages: readonly Record<string, unknown>[];
  readonly outputs: readonly {
    readonly topic: string;
    readonly key: unknown;
    readonly headers: Record<string, string>;
    readonly value: Record<string, unknown>;
  }[];
  readonly quarantine: Record<string, unknown> | null;
  readonly drop: Record<string, unknown> | null;
}
const report = (stdout: string): Report => JSON.parse(stdout) as Report;
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

beforeEach(() => {
  vi.stubEnv('ERP_HMAC_KEY_1', 'demo-erp-key-1');
  vi.stubEnv('ERP_HMAC_KEY_2', 'demo-erp-key-2');
});
afterEach(() => {
  vi.unstubAllEnvs();
});

describe('membrane try, a JSON mapping', () => {
  it('prints each stage, then the output record with its key, headers and value; exit 0', async () => {
    const result = await tryWith(json(ORDER), [
      ORDERS,
      ...TRUSTED,
      '--header',
      'x-correlation-id=corr-1',
      '--key',
      '4711',
      ...AT,
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'legacy-orders@3 ← erp.orders',
        '  trust     ✓',
        '  decode    ✓',
        '  upcast    ✓',
        '  route     ✓ order-placed',
        '  map       ✓',
        '  validate  ✓',
        '  encode    ✓',
        '  stamp     ✓',
        'output 1 of 1: sales.order-placed.v1',
        '  key: 4711',
        '  headers:',
        '    membrane.id: 52f40ed5-2139-505e-bee0-3ea15cf8b79c',
        '    membrane.mapping: legacy-orders@3',
        '    membrane.route: order-placed',
        '    membrane.source.system: legacy-erp',
        '    membrane.source.topic: erp.orders',
        '    membrane.source.partition: 0',
        '    membrane.source.offset: 0',
        '    membrane.source.timestamp: 1795266300000',
        '    membrane.aggregate: 4711',
        '    membrane.correlation-id: corr-1',
        '    membrane.vclock: {"legacy-erp":1}',
        '  value:',
        '    {',
        '      "orderId": "4711",',
        '      "customerId": "K-0042",',
        '      "totalCents": 14990,',
        '      "currency": "CHF",',
        '      "placedAt": 1795266300000,',
        '      "status": "NEW",',
        '      "lineCount": 1,',
        '      "lines": [',
        '        {',
        '          "sku": "SKU-1",',
        '          "quantity": 2,',
        '          "unitPriceCents": 4995,',
        '          "weightKg": null',
        '        }',
        '      ]',
        '    }',
        '',
      ].join('\n'),
    );
  });

  it('upcasts an old shape first: a version-1 order signed with the rotated key k2', async () => {
    // JSON leaves out undefined fields: version 1 had `amount` and no currency.
    const v1 = {
      ...ORDER,
      schema_version: 1,
      amount: ORDER.total_amount,
      total_amount: undefined,
      currency_code: undefined,
    };
    const result = await tryWith(json(v1), [
      ORDERS,
      '--header',
      'x-source-system=legacy-erp',
      '--sign',
      'k2',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('  upcast    ✓\n');
    expect(result.stdout).toContain('      "totalCents": 14990,\n      "currency": "EUR",\n');
  });

  it('names the stage, code, path and message of a quarantine, the route it took, and exits 1', async () => {
    const result = await tryWith(json({ ...ORDER, total_amount: '1.005' }), [ORDERS, ...TRUSTED]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(
      [
        'legacy-orders@3 ← erp.orders',
        '  trust     ✓',
        '  decode    ✓',
        '  upcast    ✓',
        '  route     ✓ order-placed',
        '  map       ✗ map.cast-failed at total_amount',
        '  validate  · not run',
        '  encode    · not run',
        '  stamp     · not run',
        'quarantined by map: 1 issue',
        '  map.cast-failed at total_amount: "1.005" cannot be read as decimal for totalCents: has more than 2 decimal places',
        '',
      ].join('\n'),
    );
  });

  it('names the rule an invariant broke', async () => {
    const free = {
      ...ORDER,
      total_amount: '0.00',
      line_items: [{ sku: 'A', qty: '1', unit_price: '0' }],
    };
    const result = await tryWith(json(free), [ORDERS, ...TRUSTED]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('  validate  ✗ validate.invariant (rule positive-total)\n');
    expect(result.stdout).toContain(
      '  validate.invariant (rule positive-total): an order must cost something\n',
    );
  });

  it('shows the identity check where the pipeline makes it: after routing, before the map', async () => {
    const cancelled = { ...ORDER, type: 'X', event_id: undefined };
    const result = await tryWith(json(cancelled), [ORDERS, ...TRUSTED]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      [
        '  route     ✓ order-cancelled',
        '  stamp     ✗ stamp.missing-identity at event_id',
        '  map       · not run',
        '  validate  · not run',
        '  encode    · not run',
        'quarantined by stamp: 1 issue',
        '  stamp.missing-identity at event_id: event ID is missing',
      ].join('\n'),
    );
  });

  it('says a drop on purpose and exits 0', async () => {
    const result = await tryWith(json({ ...ORDER, type: 'T' }), [ORDERS, ...TRUSTED]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'legacy-orders@3 ← erp.orders',
        '  trust     ✓',
        '  decode    ✓',
        '  upcast    ✓',
        "  route     – dropped: test-orders: test orders from the ERP's staging tenant",
        '  map       · not run',
        '  validate  · not run',
        '  encode    · not run',
        '  stamp     · not run',
        "dropped on purpose (route): test-orders: test orders from the ERP's staging tenant",
        '',
      ].join('\n'),
    );
  });

  it('runs the exact bytes given: text that is not JSON is a decode quarantine', async () => {
    const result = await tryWith('{"order_id": 4711,', [ORDERS, ...TRUSTED]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('  decode    ✗ decode.invalid-json\n  upcast    · not run\n');
  });
});

describe('membrane try --sign and --header', () => {
  it('signs value and covered headers as a producer does: the same signature by hand passes', async () => {
    const value = json(ORDER);
    const signature = hmacSignature('demo-erp-key-1', Buffer.from(value), [
      { name: 'x-source-system', value: 'legacy-erp' },
    ]).toString('base64');
    const byHand = await tryWith(value, [
      ORDERS,
      '--header',
      'x-source-system=legacy-erp',
      '--header',
      `x-signature=${signature}`,
      '--header',
      'x-key-id=k1',
      '--json',
      ...AT,
    ]);
    const signed = await tryWith(value, [ORDERS, ...TRUSTED, '--json', ...AT]);
    expect(byHand.code).toBe(0);
    expect(signed.code).toBe(0);
    expect(report(signed.stdout)).toEqual(
      expect.objectContaining({ result: 'pass', outputs: report(byHand.stdout).outputs }),
    );
  });

  it('without --sign the record has no signature; with a key the mapping lacks it is unknown', async () => {
    const unsigned = await tryWith(json(ORDER), [ORDERS, '--header', 'x-source-system=legacy-erp']);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stdout).toContain(
      '  trust     ✗ trust.signature-missing at headers.x-signature\n  decode    · not run\n',
    );
    expect(unsigned.stdout).toContain(
      '  trust.signature-missing at headers.x-signature: header x-signature is missing\n',
    );
    const unknown = await tryWith(json(ORDER), [
      ORDERS,
      '--header',
      'x-source-system=legacy-erp',
      '--sign',
      'k9',
    ]);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain(
      '  trust.unknown-key at headers.x-key-id: key "k9" is not configured\n',
    );
  });

  it('signs the covered header as given: another source system is refused before the signature', async () => {
    const result = await tryWith(json(ORDER), [
      ORDERS,
      '--header',
      'x-source-system=shop',
      '--sign',
      'k1',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      '  trust.source-not-allowed at headers.x-source-system: source "shop" is not allowed\n',
    );
  });

  it('refuses --sign for a mapping that checks no signature, and a header that is not name=value', async () => {
    const sign = await tryWith(json(ADJUSTMENT), [STOCK, '--sign', 'k1']);
    expect(sign.code).toBe(1);
    expect(sign.stdout).toBe('');
    expect(sign.stderr).toBe(
      'membrane: Mapping wms-stock checks no signature (it has no trust.signature): --sign has nothing to sign for.\n  What to do: leave out --sign.\n',
    );
    const header = await tryWith(json(ORDER), [ORDERS, '--header', 'x-source-system']);
    expect(header.code).toBe(1);
    expect(header.stderr).toBe(
      'membrane: --header must be name=value, not "x-source-system".\n  What to do: give each header as --header name=value, like --header x-source-system=legacy-erp.\n',
    );
    const twice = await tryWith(json(ORDER), [ORDERS, '--header', 'a=1', '--header', 'a=2']);
    expect(twice.stderr).toContain(
      'membrane: --header a is given twice; membrane reads only the first value of a header.\n',
    );
  });
});

describe('membrane try, an Avro mapping', () => {
  it('writes the JSON value with the mapping’s source schema through the registry', async () => {
    const result = await tryWith(json(ADJUSTMENT), [
      STOCK,
      '--header',
      'x-source-system=wms',
      '--key',
      'SKU-1',
      '--timestamp',
      '2026-07-01T10:00:00Z',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(
      [
        'wms-stock@1 ← wms.stock-adjustments',
        '  trust     ✓',
        '  decode    ✓',
        '  route     ✓ stock-adjusted',
        '  map       ✓',
        '  validate  ✓',
        '  encode    ✓',
        '  stamp     ✓',
        'output 1 of 1: fulfillment.stock-adjusted.v1',
        '  key: SKU-1',
        '  headers:',
        '    membrane.id: e0c8b38c-4074-5396-9185-41609cbd56fc',
        '    membrane.mapping: wms-stock@1',
        '    membrane.route: stock-adjusted',
        '    membrane.source.system: wms',
        '    membrane.source.topic: wms.stock-adjustments',
        '    membrane.source.partition: 0',
        '    membrane.source.offset: 0',
        '    membrane.source.timestamp: 1782900000000',
        '    membrane.aggregate: SKU-1',
        '    membrane.vclock: {"wms":1}',
        '  value:',
        '    {',
        '      "sku": "SKU-1",',
        '      "warehouseId": "WH-BER",',
        '      "delta": -3,',
        '      "reason": "DAMAGED",',
        '      "occurredAt": 1782900000000,',
        '      "lot": "L-77"',
        '    }',
        '',
      ].join('\n'),
    );
  });

  it('writes with another writer schema (--schema), resolved to the reader as a v1 producer’s records are', async () => {
    const v1 = { ...ADJUSTMENT, lot: undefined };
    const result = await tryWith(json({ ...v1, reason_code: 'XX' }), [
      STOCK,
      '--schema',
      'schemas/upstream/wms/stock-adjustment-v1.avsc',
      '--header',
      'x-source-system=wms',
      '--json',
    ]);
    expect(result.code).toBe(1);
    expect(report(result.stdout).stages).toEqual([
      { stage: 'trust', verdict: 'pass' },
      { stage: 'decode', verdict: 'pass' },
      { stage: 'route', verdict: 'pass', route: 'stock-adjusted' },
      {
        stage: 'map',
        verdict: 'quarantine',
        issues: [
          {
            code: 'map.unknown-code',
            path: 'reason_code',
            message: '"XX" is not in the code table of reason (known: DMG, CNT, RCV, RTN)',
          },
        ],
      },
      { stage: 'validate', verdict: 'not-run' },
      { stage: 'encode', verdict: 'not-run' },
      { stage: 'stamp', verdict: 'not-run' },
    ]);
    // The v1 writer has no `lot`: decode resolves it to the reader's default, null.
    const passed = await tryWith(json(v1), [
      STOCK,
      '--schema',
      'schemas/upstream/wms/stock-adjustment-v1.avsc',
      '--header',
      'x-source-system=wms',
      '--json',
    ]);
    expect(passed.code).toBe(0);
    expect(report(passed.stdout).outputs[0]?.value).toEqual({
      sku: 'SKU-1',
      warehouseId: 'WH-BER',
      delta: -3,
      reason: 'DAMAGED',
      occurredAt: 1782900000000,
      lot: null,
    });
  });

  it('a zero adjustment is dropped on purpose; null is a tombstone', async () => {
    const zero = await tryWith(json({ ...ADJUSTMENT, delta_qty: 0 }), [
      STOCK,
      '--header',
      'x-source-system=wms',
    ]);
    expect(zero.code).toBe(0);
    expect(zero.stdout).toContain(
      '  route     – dropped: zero-adjustment: a zero adjustment changes nothing\n',
    );
    const tombstone = await tryWith('null', [STOCK, '--header', 'x-source-system=wms']);
    expect(tombstone.code).toBe(1);
    expect(tombstone.stdout).toContain(
      '  decode.empty-value: the value is null (a tombstone) or empty\n',
    );
  });

  it('refuses a value that does not fit the writer schema, naming each field', async () => {
    const result = await tryWith(
      json({ ...ADJUSTMENT, delta_qty: 'three', warehouse_id: undefined }),
      [STOCK],
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'membrane: The value does not fit schemas/upstream/wms/stock-adjustment.avsc: warehouse_id is missing (a string); delta_qty is "three", not an int.',
        '  What to do: give a value of that schema, or its writer schema with --schema.',
        '',
      ].join('\n'),
    );
    const notJson = await tryWith('adj-1', [STOCK]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(
      /^membrane: The value is not JSON \(.*\); for an Avro mapping it is given as JSON and written with schemas\/upstream\/wms\/stock-adjustment\.avsc\.\n/,
    );
  });

  it('escapes upstream text on the terminal; --json keeps it exact', async () => {
    const attack = 'SKU-\u001b[2J\u202e1';
    const args = [STOCK, '--header', 'x-source-system=wms'];
    const human = await tryWith(json({ ...ADJUSTMENT, sku: attack }), args);
    expect(human.code).toBe(0);
    expect(human.stdout).toContain('  key: SKU-\\x1b[2J\\u202e1\n');
    expect(human.stdout).toContain('    membrane.aggregate: SKU-\\x1b[2J\\u202e1\n');
    expect(human.stdout).toContain('      "sku": "SKU-\\u001b[2J\\u202e1",\n');
    expect(human.stdout).not.toContain('\u001b');
    expect(human.stdout).not.toContain('\u202e');
    const machine = await tryWith(json({ ...ADJUSTMENT, sku: attack }), [...args, '--json']);
    expect(machine.stdout).not.toContain('\u001b');
    expect(machine.stdout).not.toContain('\u202e');
    const [output] = report(machine.stdout).outputs;
    expect(output?.key).toBe(attack);
    expect(output?.value['sku']).toBe(attack);
  });
});

describe('membrane try, mappings of other shapes', () => {
  const stockSchema = join(projectRoot(), 'schemas/upstream/wms/stock-adjustment.avsc');
  const mapping = (source: string, trust = ''): string =>
    [
      'name: stock',
      'version: 1',
      `source: ${source}`,
      trust,
      'identity: { event: adjustment_id }',
      'events:',
      '  - name: adjusted',
      '    to: { topic: stock.adjusted, format: json, key: sku }',
      '    map: { sku: sku, delta: delta_qty }',
      '',
    ].join('\n');

  it('plain Avro (avro-binary): the body alone, read with source.schema', async () => {
    const dir = await folderWith({
      'stock.yaml': mapping(
        `{ system: wms, topics: [stock], format: avro-binary, schema: ${stockSchema} }`,
      ),
    });
    const result = await tryWith(json(ADJUSTMENT), [join(dir, 'stock.yaml'), '--json']);
    expect(result.code).toBe(0);
    expect(report(result.stdout).outputs[0]).toMatchObject({
      topic: 'stock.adjusted',
      key: 'SKU-1',
      value: { sku: 'SKU-1', delta: -3 },
    });
  });

  it('Avro without source.schema needs --schema', async () => {
    const dir = await folderWith({
      'stock.yaml': mapping('{ system: wms, topics: [stock], format: avro }'),
    });
    const without = await tryWith(json(ADJUSTMENT), [join(dir, 'stock.yaml')]);
    expect(without.code).toBe(1);
    expect(without.stderr).toBe(
      'membrane: Mapping stock reads Avro and names no source.schema to write the value with.\n  What to do: give the writer schema with --schema <file.avsc>.\n',
    );
    const withSchema = await tryWith(json(ADJUSTMENT), [
      join(dir, 'stock.yaml'),
      '--schema',
      stockSchema,
    ]);
    expect(withSchema.code).toBe(0);
    expect(withSchema.stdout).toContain('output 1 of 1: stock.adjusted\n  key: SKU-1\n');
  });

  it('refuses --sign for Ed25519 signatures: the mapping holds only public keys', async () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
    const dir = await folderWith({
      'stock.yaml': mapping(
        '{ system: wms, topics: [stock], format: json }',
        `trust: { signature: { algorithm: ed25519, header: x-sig, keyIdHeader: x-kid, keys: { e1: '${raw}' } } }`,
      ),
    });
    const result = await tryWith(json(ADJUSTMENT), [join(dir, 'stock.yaml'), '--sign', 'e1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'membrane: Mapping stock checks ed25519 signatures, and --sign signs only with HMAC secrets (the mapping holds only public keys).\n  What to do: sign with your private key and give --header x-sig=<base64> --header x-kid=<key ID>.\n',
    );
  });
});

describe('membrane try, input and output', () => {
  it('reads the value from a file as from stdin', async () => {
    const dir = await folderWith({ 'order.json': json(ORDER) });
    const fromFile = await tryWith('', [ORDERS, join(dir, 'order.json'), ...TRUSTED, ...AT]);
    const fromStdin = await tryWith(json(ORDER), [ORDERS, '-', ...TRUSTED, ...AT]);
    expect(fromFile.code).toBe(0);
    expect(fromFile.stdout).toContain('output 1 of 1: sales.order-placed.v1\n');
    expect(fromFile.stdout).toBe(fromStdin.stdout);
    const missing = await tryWith('', [ORDERS, join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^membrane: Cannot read value file .*nope\.json: ENOENT: no such file or directory.*\n {2}What to do: check the path, or give the value on stdin\.\n$/,
    );
  });

  it('--json: one object with verdicts per stage, the outputs, the quarantine or the drop', async () => {
    const passed = report(
      (await tryWith(json(ORDER), [ORDERS, ...TRUSTED, '--key', '4711', '--json', ...AT])).stdout,
    );
    expect(passed).toMatchObject({
      mapping: 'legacy-orders@3',
      topic: 'erp.orders',
      result: 'pass',
      quarantine: null,
      drop: null,
    });
    expect(passed.stages).toHaveLength(8);
    expect(passed.stages[3]).toEqual({ stage: 'route', verdict: 'pass', route: 'order-placed' });
    expect(passed.outputs).toHaveLength(1);
    expect(passed.outputs[0]).toMatchObject({
      topic: 'sales.order-placed.v1',
      key: '4711',
      value: { orderId: '4711', totalCents: 14990, currency: 'CHF' },
    });
    expect(passed.outputs[0]?.headers).toMatchObject({
      'membrane.mapping': 'legacy-orders@3',
      'membrane.source.timestamp': '1795266300000',
      'membrane.vclock': '{"legacy-erp":1}',
    });

    const quarantined = await tryWith(json({ ...ORDER, status: 'Q' }), [
      ORDERS,
      ...TRUSTED,
      '--json',
    ]);
    expect(quarantined.code).toBe(1);
    expect(report(quarantined.stdout)).toMatchObject({
      result: 'quarantine',
      outputs: [],
      drop: null,
      quarantine: {
        stage: 'map',
        code: 'map.unknown-code',
        path: 'status',
        message: '"Q" is not in the code table of status (known: N, P)',
        rule: null,
      },
    });

    const dropped = await tryWith(json({ ...ORDER, type: 'T' }), [ORDERS, ...TRUSTED, '--json']);
    expect(dropped.code).toBe(0);
    expect(report(dropped.stdout)).toMatchObject({
      result: 'drop',
      outputs: [],
      quarantine: null,
      drop: {
        kind: 'route',
        route: 'test-orders',
        reason: "test-orders: test orders from the ERP's staging tenant",
      },
    });
  });

  it('--topic picks a source topic; one the mapping does not read is refused', async () => {
    const result = await tryWith(json(ORDER), [ORDERS, ...TRUSTED, '--topic', 'erp.ordres']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      'membrane: --topic erp.ordres is not a source topic of mapping legacy-orders@3, which reads erp.orders.\n  What to do: give one of them, like --topic erp.orders.\n',
    );
  });

  it('escapes what a refusal quotes of the input: a topic, a parser’s words about the value', async () => {
    const topic = await tryWith(json(ORDER), [ORDERS, ...TRUSTED, '--topic', 'erp.\u001b[2J']);
    expect(topic.code).toBe(1);
    expect(topic.stderr).toContain('membrane: --topic erp.\\x1b[2J is not a source topic');
    expect(topic.stderr).not.toContain('\u001b');
    const value = await tryWith('adj-\u001b[2J\u202e', [STOCK]);
    expect(value.code).toBe(1);
    expect(value.stderr).toContain('adj-\\x1b[2J\\u202e');
    expect(value.stderr).not.toContain('\u001b');
    expect(value.stderr).not.toContain('\u202e');
  });

  it('reads ${env:…} from --env-file', async () => {
    vi.unstubAllEnvs();
    vi.stubEnv('ERP_HMAC_KEY_1', undefined);
    vi.stubEnv('ERP_HMAC_KEY_2', undefined);
    const without = await tryWith(json(ORDER), [ORDERS, ...TRUSTED]);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(
      /^ {2}mappings\/legacy-orders\.yaml:\d+:\d+: trust\.signature\.keys\.k1: environment variable ERP_HMAC_KEY_1 is not set/m,
    );
    const withFile = await tryWith(json(ORDER), [
      ORDERS,
      ...TRUSTED,
      '--env-file',
      'mappings/example.env',
    ]);
    expect(withFile.code).toBe(0);
  });

  it('a mapping with problems: each at file:line:col, exit 1', async () => {
    const dir = await folderWith({
      'bad.yaml': [
        'name: bad',
        'version: 1',
        'source: { system: a, topics: [t], format: json }',
        'events:',
        '  - name: e',
        '    to: { topic: o, format: json }',
        '    map: { a: { from: b, as: decmal } }',
        '',
      ].join('\n'),
    });
    const result = await tryWith('{}', [join(dir, 'bad.yaml')]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    // The problem's words are validate's; what try adds is the place and the exit code.
    expect(result.stderr).toMatch(
      new RegExp(
        `^membrane: 1 problem in mapping files:\\n  ${escapeRegExp(join(dir, 'bad.yaml'))}:7:30: events\\[0\\]\\.map\\.a\\.as: .*decimal.*\\n  What to do: fix the mapping files at the positions given\\.\\n$`,
      ),
    );
  });

  it('as a process: the value piped to stdin, exit 1 for a quarantine', async () => {
    const run = (value: string): Promise<CliResult> =>
      new Promise((resolve, reject) => {
        const root = projectRoot();
        const child = spawn(
          process.execPath,
          ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'try', ORDERS, ...TRUSTED],
          {
            cwd: root,
            env: { PATH: process.env['PATH'], ERP_HMAC_KEY_1: 'a', ERP_HMAC_KEY_2: 'b' },
            stdio: ['pipe', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code) => {
          resolve({ code, stdout, stderr });
        });
        child.stdin.end(value);
      });
    const quarantined = await run(json({ ...ORDER, status: 'Q' }));
    expect(quarantined.stderr).toBe('');
    expect(quarantined.stdout).toContain('quarantined by map: 1 issue\n');
    expect(quarantined.code).toBe(1);
  }, 60_000);
});
