import { describe, expect, it } from 'vitest';
import { BASE_MAPPING, folderWith, problemsOf } from '../support/mappings.js';

const SCHEMA = JSON.stringify({
  type: 'record',
  name: 'Placed',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'total', type: 'long' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
});

describe('compiling mappings', () => {
  it('reports a CEL syntax error where the expression goes wrong', async () => {
    const text = BASE_MAPPING.replace(
      '  - name: placed\n',
      '  - name: placed\n    when: total >\n',
    );
    expect(await problemsOf(text)).toEqual([
      '12:17 events[0].when: invalid CEL expression: Unexpected token: EOF',
    ]);
  });

  it('reports invalid invariant rules and computed fields', async () => {
    const text = `${BASE_MAPPING}      computed: { expr: 'total +* 1' }\n    invariants:\n      - { name: ok, rule: 'total > ' }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:33 events[0].map.computed.expr: invalid CEL expression: Unexpected token: MULTIPLY',
      '18:35 events[0].invariants[0].rule: invalid CEL expression: Unexpected token: EOF',
    ]);
  });

  it('refuses units of different dimensions, unknown units and unknown time zones', async () => {
    const text = `${BASE_MAPPING}      weight: { from: w, as: double, unit: { from: g, to: m } }\n      size: { from: s, as: double, unit: { from: g, to: stone } }\n      at: { from: t, as: timestamp, zone: Mars/Olympus }\n`;
    expect(await problemsOf(text)).toEqual([
      '16:44 events[0].map.weight.unit: cannot convert mass (g) to length (m)',
      expect.stringMatching(/^17:42 events\[0\]\.map\.size\.unit: unknown unit "stone"/),
      '18:43 events[0].map.at.zone: unknown time zone "Mars/Olympus" (zones are IANA names like Europe/Berlin, America/New_York or UTC)',
    ]);
  });

  it('checks the map against the target Avro schema: unknown fields, missing required fields', async () => {
    const dir = await folderWith({ 'placed.avsc': SCHEMA });
    const avroTarget = BASE_MAPPING.replace(
      'format: json, key: orderId',
      'format: avro, schema: placed.avsc, key: orderId',
    );
    expect(await problemsOf(avroTarget, { dir })).toEqual([]);
    const extra = avroTarget.replace(
      '      orderId: order_id\n',
      '      orderId: order_id\n      customer: cust\n',
    );
    expect(await problemsOf(extra, { dir })).toEqual([
      '15:17 events[0].map.customer: field customer is not in schema Placed (its fields: orderId, total, note)',
    ]);
    const missing = avroTarget.replace('      total: { from: total, as: decimal, scale: 2 }\n', '');
    expect(await problemsOf(missing, { dir })).toEqual([
      '14:7 events[0].map: schema Placed needs field total, which the map does not set',
    ]);
  });

  it('names a schema file that cannot be read, and a key that is not mapped', async () => {
    const text = BASE_MAPPING.replace(
      'format: json, key: orderId',
      'format: avro, schema: nope.avsc, key: order',
    );
    expect(await problemsOf(text)).toEqual([
      expect.stringMatching(
        /^12:54 events\[0\]\.to\.schema: cannot read schema file .*nope\.avsc.* \(paths are relative to the mapping file\)$/,
      ),
      '12:70 events[0].to.key: key order is not a field of the map (did you mean orderId?)',
    ]);
  });

  it('refuses an Ed25519 key that is not one, without echoing it', async () => {
    const text = BASE_MAPPING.replace(
      'identity:',
      'trust:\n  signature: { algorithm: ed25519, header: x-sig, keyIdHeader: x-kid, keys: { k1: "${env:PUB}" } }\nidentity:',
    );
    const problems = await problemsOf(text, { env: { PUB: 'bm90LWEta2V5' } });
    expect(problems).toEqual([
      expect.stringMatching(/^8:\d+ trust\.signature\.keys\.k1: is not an Ed25519 public key/),
    ]);
    expect(problems.join()).not.toContain('bm90LWEta2V5');
  });
});
