import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConnectionConfig, loadRunConfig } from '../../src/app/config.js';

const TLS = join(import.meta.dirname, '../adapters/kafka/fixtures/tls');
const file = (name: string): string => join(TLS, name);

const BASE = { KAFKA_BROKERS: 'k1:9093', SCHEMA_REGISTRY_URL: 'https://registry:8081' };

/** The configuration error's message for `env` (fails the test when there is none). */
function refusal(env: Record<string, string>): string {
  try {
    loadConnectionConfig({ ...BASE, ...env });
  } catch (error) {
    expect(error).toMatchObject({ code: 'config.invalid' });
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('connection configuration', () => {
  it('keeps plaintext without SASL by default, with a 30 s connect timeout', () => {
    const config = loadConnectionConfig(BASE);
    expect(config).toMatchObject({
      KAFKA_SSL_CHECK_HOSTNAME: true,
      KAFKA_CONNECT_TIMEOUT_MS: 30_000,
    });
    expect(config.KAFKA_SSL).toBeUndefined();
    expect(config.KAFKA_SASL_MECHANISM).toBeUndefined();
  });

  it('reads the TLS files once, as PEM, and accepts KAFKA_SSL in any case', () => {
    const config = loadRunConfig({
      ...BASE,
      KAFKA_SSL: 'TRUE',
      KAFKA_SSL_CA_FILE: file('ca.pem'),
      KAFKA_SSL_CERT_FILE: file('client.pem'),
      KAFKA_SSL_KEY_FILE: file('client-encrypted.key'),
      KAFKA_SSL_KEY_PASSWORD: 'fixture-pass',
      KAFKA_SSL_CHECK_HOSTNAME: 'false',
    });
    expect(config.KAFKA_SSL).toBe(true);
    expect(config.KAFKA_SSL_CA_FILE?.path).toBe(file('ca.pem'));
    expect(config.KAFKA_SSL_CA_FILE?.pem.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(config.KAFKA_SSL_KEY_FILE?.pem.toString()).toMatch(/ENCRYPTED PRIVATE KEY/);
    expect(config.KAFKA_SSL_CHECK_HOSTNAME).toBe(false);
  });

  it('names a missing file, a folder, a file that is not PEM, and an unreadable one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'membrane-config-'));
    const text = join(dir, 'ca.txt');
    writeFileSync(text, 'not a certificate');
    const locked = join(dir, 'locked.pem');
    writeFileSync(locked, '-----BEGIN CERTIFICATE-----\n');
    chmodSync(locked, 0o000);
    const message = refusal({
      KAFKA_SSL_CA_FILE: join(dir, 'missing.pem'),
      KAFKA_SSL_CERT_FILE: dir,
      KAFKA_SSL_KEY_FILE: text,
      SCHEMA_REGISTRY_CA_FILE: locked,
    });
    expect(message).toContain(`KAFKA_SSL_CA_FILE=${join(dir, 'missing.pem')} names no file`);
    expect(message).toContain(`KAFKA_SSL_CERT_FILE=${dir} names a folder`);
    expect(message).toContain(`KAFKA_SSL_KEY_FILE=${text} is not a PEM file`);
    // root reads any file: then the check of its content speaks instead.
    expect(message).toMatch(
      new RegExp(
        `SCHEMA_REGISTRY_CA_FILE=${locked} (names a file membrane may not read|does not hold certificates)`,
      ),
    );
  });

  it('wants a certificate and its key together, the key decrypted, and the key of that certificate', () => {
    expect(refusal({ KAFKA_SSL_CERT_FILE: file('client.pem') })).toContain(
      'KAFKA_SSL_KEY_FILE is not set; KAFKA_SSL_CERT_FILE needs its private key',
    );
    expect(refusal({ KAFKA_SSL_KEY_FILE: file('client.key') })).toContain(
      'KAFKA_SSL_CERT_FILE is not set',
    );
    expect(
      refusal({
        KAFKA_SSL_CERT_FILE: file('client.pem'),
        KAFKA_SSL_KEY_FILE: file('client-encrypted.key'),
      }),
    ).toContain('is encrypted; set KAFKA_SSL_KEY_PASSWORD');
    const wrong = refusal({
      KAFKA_SSL_CERT_FILE: file('client.pem'),
      KAFKA_SSL_KEY_FILE: file('client-encrypted.key'),
      KAFKA_SSL_KEY_PASSWORD: 'not-it',
    });
    expect(wrong).toContain('KAFKA_SSL_KEY_PASSWORD does not decrypt the key');
    expect(wrong).not.toContain('not-it');
    expect(
      refusal({ KAFKA_SSL_CERT_FILE: file('client.pem'), KAFKA_SSL_KEY_FILE: file('server.key') }),
    ).toMatch(/KAFKA_SSL_KEY_FILE=\S+ does not fit KAFKA_SSL_CERT_FILE/);
    expect(refusal({ KAFKA_SSL_CA_FILE: file('client.key') })).toMatch(
      /KAFKA_SSL_CA_FILE=\S+ does not hold certificates/,
    );
  });

  it('refuses KAFKA_SSL=false with TLS files, and a value that is not true or false', () => {
    expect(refusal({ KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: file('ca.pem') })).toContain(
      'KAFKA_SSL=false is false, but KAFKA_SSL_CA_FILE ask for TLS',
    );
    expect(refusal({ KAFKA_SSL: 'yes', KAFKA_SSL_CHECK_HOSTNAME: '0' })).toMatch(
      /KAFKA_SSL=yes must be true or false; KAFKA_SSL_CHECK_HOSTNAME=0 must be true or false/,
    );
  });

  it.each(['plain', 'SCRAM-SHA-256', 'scram-sha-512'])(
    'reads KAFKA_SASL_MECHANISM=%s with username and password',
    (mechanism) => {
      const config = loadConnectionConfig({
        ...BASE,
        KAFKA_SASL_MECHANISM: mechanism,
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD: 'pw',
      });
      expect(config.KAFKA_SASL_MECHANISM).toBe(mechanism.toLowerCase());
    },
  );

  it('names what a SASL mechanism lacks, and what it does not use, never showing secrets', () => {
    const message = refusal({
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_PASSWORD: 's3cret',
    });
    expect(message).toContain(
      'KAFKA_SASL_USERNAME is not set; KAFKA_SASL_MECHANISM=scram-sha-512 needs it',
    );
    expect(message).not.toContain('s3cret');
    expect(refusal({ KAFKA_SASL_MECHANISM: 'gssapi' })).toContain(
      'KAFKA_SASL_MECHANISM=gssapi must be one of plain, scram-sha-256, scram-sha-512, oauthbearer',
    );
    expect(refusal({ KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: 's3cret' })).toMatch(
      /KAFKA_SASL_USERNAME=svc is set but KAFKA_SASL_MECHANISM is not.*KAFKA_SASL_PASSWORD is set/,
    );
    const mixed = refusal({
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'svc',
      KAFKA_SASL_PASSWORD: 'pw',
      KAFKA_SASL_OAUTH_CLIENT_SECRET: 'oauth-s3cret',
    });
    expect(mixed).toContain(
      'KAFKA_SASL_OAUTH_CLIENT_SECRET is set but KAFKA_SASL_MECHANISM=plain does not use it',
    );
    expect(mixed).not.toContain('oauth-s3cret');
  });

  it('reads OAUTHBEARER: token URL, client, scope and extensions', () => {
    const config = loadConnectionConfig({
      ...BASE,
      KAFKA_SASL_MECHANISM: 'OAUTHBEARER',
      KAFKA_SASL_OAUTH_TOKEN_URL: 'https://idp.example/oauth2/token',
      KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane',
      KAFKA_SASL_OAUTH_CLIENT_SECRET: 'secret',
      KAFKA_SASL_OAUTH_SCOPE: 'kafka',
      KAFKA_SASL_OAUTH_EXTENSIONS: 'logicalCluster=lkc-abc12, identityPoolId=pool-XyZ',
    });
    expect(config.KAFKA_SASL_MECHANISM).toBe('oauthbearer');
    expect(config.KAFKA_SASL_OAUTH_EXTENSIONS).toEqual({
      logicalCluster: 'lkc-abc12',
      identityPoolId: 'pool-XyZ',
    });
  });

  it('names every OAUTHBEARER variable missing or malformed', () => {
    const message = refusal({
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_OAUTH_EXTENSIONS: 'logicalCluster',
      KAFKA_SASL_USERNAME: 'svc',
    });
    expect(message).toContain(
      'KAFKA_SASL_OAUTH_TOKEN_URL is not set; KAFKA_SASL_MECHANISM=oauthbearer needs it',
    );
    expect(message).toContain('KAFKA_SASL_OAUTH_CLIENT_ID is not set');
    expect(message).toContain('KAFKA_SASL_OAUTH_CLIENT_SECRET is not set');
    expect(message).toContain('KAFKA_SASL_OAUTH_EXTENSIONS=logicalCluster must be key=value pairs');
    expect(message).toContain(
      'KAFKA_SASL_USERNAME=svc is set but KAFKA_SASL_MECHANISM=oauthbearer does not use it',
    );
    expect(
      refusal({
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_OAUTH_TOKEN_URL: 'idp.example/token',
        KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane',
        KAFKA_SASL_OAUTH_CLIENT_SECRET: 'x',
      }),
    ).toContain('KAFKA_SASL_OAUTH_TOKEN_URL=idp.example/token is not an http:// or https:// URL');
  });

  it('refuses a bearer token with basic auth, never showing either', () => {
    const message = refusal({
      SCHEMA_REGISTRY_BEARER_TOKEN: 'tok3n',
      SCHEMA_REGISTRY_USERNAME: 'svc',
      SCHEMA_REGISTRY_PASSWORD: 'pa55',
    });
    expect(message).toContain(
      'SCHEMA_REGISTRY_BEARER_TOKEN is set with SCHEMA_REGISTRY_USERNAME/SCHEMA_REGISTRY_PASSWORD',
    );
    expect(message).not.toMatch(/tok3n|pa55/);
    expect(
      refusal({
        SCHEMA_REGISTRY_URL: 'https://svc:pa55@registry',
        SCHEMA_REGISTRY_BEARER_TOKEN: 'tok3n',
      }),
    ).toContain('is set with credentials in SCHEMA_REGISTRY_URL');
  });

  it('reads the registry TLS files, and wants https for them', () => {
    const config = loadConnectionConfig({
      ...BASE,
      SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
      SCHEMA_REGISTRY_CERT_FILE: file('client.pem'),
      SCHEMA_REGISTRY_KEY_FILE: file('client.key'),
    });
    expect(config.SCHEMA_REGISTRY_CERT_FILE?.pem.toString()).toMatch(/BEGIN CERTIFICATE/);
    expect(
      refusal({
        SCHEMA_REGISTRY_URL: 'http://registry:8081',
        SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
      }),
    ).toContain(
      'SCHEMA_REGISTRY_URL=http://registry:8081 is not https://, but SCHEMA_REGISTRY_CA_FILE ask for TLS',
    );
  });

  it('reads KAFKA_CONNECT_TIMEOUT_MS as a positive whole number', () => {
    expect(
      loadConnectionConfig({ ...BASE, KAFKA_CONNECT_TIMEOUT_MS: '2500' }).KAFKA_CONNECT_TIMEOUT_MS,
    ).toBe(2500);
    expect(refusal({ KAFKA_CONNECT_TIMEOUT_MS: '0' })).toContain('KAFKA_CONNECT_TIMEOUT_MS=0');
  });
});
