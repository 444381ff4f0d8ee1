import { createHmac, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTrustStage, signedBytes } from '../../../src/pipeline/stages/trust.js';
import { sourceRecord } from '../../support/records.js';

const value = Buffer.from('{"order_id":"1"}');

function hmac(secret: string, headers: Record<string, string>, covers: string[]): string {
  const mac = createHmac('sha256', secret).update(value);
  for (const name of covers)
    mac
      .update(Buffer.from([0]))
      .update(name)
      .update(Buffer.from([0]))
      .update(headers[name] ?? '');
  return mac.digest('base64');
}

const codeOf = (verdict: ReturnType<ReturnType<typeof createTrustStage>>): string =>
  verdict.kind === 'quarantine' ? (verdict.issues[0]?.code ?? '') : verdict.kind;

describe('trust: allowlist', () => {
  const stage = createTrustStage({ allow: { header: 'x-source', values: ['erp'] } });

  it('lets allowed sources in and keeps others out', () => {
    expect(codeOf(stage(sourceRecord({ value, headers: { 'x-source': 'erp' } })))).toBe('pass');
    expect(
      codeOf(stage(sourceRecord({ value, headers: { 'x-source': Buffer.from('shop') } }))),
    ).toBe('trust.source-not-allowed');
    expect(codeOf(stage(sourceRecord({ value })))).toBe('trust.source-not-allowed');
  });
});

describe('trust: HMAC-SHA256 with key rotation', () => {
  const covers = ['x-source'];
  const stage = createTrustStage({
    signature: {
      algorithm: 'hmac-sha256',
      header: 'x-sig',
      keyIdHeader: 'x-kid',
      covers,
      keys: { k1: 'old-secret', k2: 'new-secret' },
    },
  });
  const headers = { 'x-source': 'erp' };

  it('accepts a signature by any configured key', () => {
    for (const [kid, secret] of [
      ['k1', 'old-secret'],
      ['k2', 'new-secret'],
    ]) {
      const record = sourceRecord({
        value,
        headers: { ...headers, 'x-kid': kid ?? '', 'x-sig': hmac(secret ?? '', headers, covers) },
      });
      expect(codeOf(stage(record))).toBe('pass');
    }
  });

  it('gives each failure its own code', () => {
    const good = hmac('old-secret', headers, covers);
    const cases: [Record<string, string>, string][] = [
      [{ ...headers, 'x-kid': 'k1' }, 'trust.signature-missing'],
      [{ ...headers, 'x-sig': good }, 'trust.signature-missing'],
      [{ ...headers, 'x-kid': 'k1', 'x-sig': 'not base64!' }, 'trust.signature-malformed'],
      [
        { ...headers, 'x-kid': 'k1', 'x-sig': Buffer.alloc(16).toString('base64') },
        'trust.signature-malformed',
      ],
      [{ ...headers, 'x-kid': 'k3', 'x-sig': good }, 'trust.unknown-key'],
      [{ ...headers, 'x-kid': 'k2', 'x-sig': good }, 'trust.signature-invalid'],
      [{ 'x-kid': 'k1', 'x-sig': good }, 'trust.signature-missing'],
    ];
    for (const [h, code] of cases)
      expect(codeOf(stage(sourceRecord({ value, headers: h }))), JSON.stringify(h)).toBe(code);
  });

  it('covers the named headers: changing one breaks the signature', () => {
    const sig = hmac('old-secret', headers, covers);
    expect(
      codeOf(
        stage(
          sourceRecord({ value, headers: { 'x-source': 'shop', 'x-kid': 'k1', 'x-sig': sig } }),
        ),
      ),
    ).toBe('trust.signature-invalid');
  });

  it('covers the value bytes: one flipped byte breaks the signature', () => {
    const sig = hmac('old-secret', headers, covers);
    const tampered = Buffer.from(value);
    tampered[3] = (tampered[3] ?? 0) ^ 1;
    expect(
      codeOf(
        stage(
          sourceRecord({ value: tampered, headers: { ...headers, 'x-kid': 'k1', 'x-sig': sig } }),
        ),
      ),
    ).toBe('trust.signature-invalid');
  });
});

describe('trust: Ed25519', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const raw = (publicKey.export({ type: 'spki', format: 'der' }) as Buffer)
    .subarray(12)
    .toString('base64');
  const other = generateKeyPairSync('ed25519').privateKey;
  const headers = { 'x-event': 'created' };
  const data = signedBytes(value, [{ name: 'x-event', value: Buffer.from('created') }]);

  for (const [form, key] of [
    ['PEM', pem],
    ['raw base64', raw],
  ] as const) {
    it(`verifies with a ${form} public key`, () => {
      const stage = createTrustStage({
        signature: {
          algorithm: 'ed25519',
          header: 'x-sig',
          keyIdHeader: 'x-kid',
          covers: ['x-event'],
          keys: { e1: key },
        },
      });
      const good = sign(null, data, privateKey).toString('base64');
      const forged = sign(null, data, other).toString('base64');
      expect(
        codeOf(
          stage(sourceRecord({ value, headers: { ...headers, 'x-kid': 'e1', 'x-sig': good } })),
        ),
      ).toBe('pass');
      expect(
        codeOf(
          stage(sourceRecord({ value, headers: { ...headers, 'x-kid': 'e1', 'x-sig': forged } })),
        ),
      ).toBe('trust.signature-invalid');
      expect(
        codeOf(
          stage(
            sourceRecord({ value, headers: { ...headers, 'x-kid': 'e1', 'x-sig': good.slice(4) } }),
          ),
        ),
      ).toBe('trust.signature-malformed');
    });
  }
});
