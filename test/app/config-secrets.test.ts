/**
 * Configuration checks (review 12). A PEM file's content given instead of its path (a common mistake with Kubernetes
 * secrets mapped to environment variables) must not be echoed in the configuration error: for
 * a key it is the private key itself. Found: `KAFKA_SSL_KEY_FILE=-----BEGIN PRIVATE KEY-----
 * MIIE… names no file` on stderr (exit 78), the whole key in the message.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConnectionConfig } from '../../src/app/config.js';

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
/** A line of the key's base64 body: what must never be shown. */
const body = key.split('\n')[1] ?? '';

function messageFor(env: NodeJS.ProcessEnv): string {
  try {
    loadConnectionConfig({
      KAFKA_BROKERS: '127.0.0.1:9092',
      SCHEMA_REGISTRY_URL: 'https://127.0.0.1:8081',
      ...env,
    });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('a PEM given as a value instead of a file path', () => {
  it.each([
    ['KAFKA_SSL_KEY_FILE', { KAFKA_SSL_CERT_FILE: '/nonexistent/cert.pem' }],
    ['SCHEMA_REGISTRY_KEY_FILE', { SCHEMA_REGISTRY_CERT_FILE: '/nonexistent/cert.pem' }],
  ])('%s: the error names the variable but never shows the key', (name, others) => {
    expect(body.length).toBeGreaterThan(20);
    const message = messageFor({ ...others, [name]: key });
    expect(message).toContain(name);
    expect(message).not.toContain(body);
  });
});

describe('a broker port out of range', () => {
  // Found: KAFKA_BROKERS=127.0.0.1:99999 passed the configuration check and ended as exit 69
  // ("No Kafka broker … answered …: Port should be >= 0 and < 65536") after the whole timeout.
  it.each(['127.0.0.1:99999', '127.0.0.1:0'])(
    'KAFKA_BROKERS=%s is a configuration error',
    (brokers) => {
      expect(messageFor({ KAFKA_BROKERS: brokers })).toContain('KAFKA_BROKERS');
    },
  );
});

describe('an OAuth token URL with credentials in it', () => {
  // Found: accepted; fetch then refuses every request ("Request cannot be constructed from a
  // URL that includes credentials"), reported as kafka.oauth-unreachable "does not answer"
  // (retriable, exit 69) after the whole KAFKA_CONNECT_TIMEOUT_MS.
  it('is a configuration error naming KAFKA_SASL_OAUTH_TOKEN_URL, without the password', () => {
    const message = messageFor({
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_OAUTH_TOKEN_URL: 'https://user:hunter2@idp.example/oauth2/token',
      KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane',
      KAFKA_SASL_OAUTH_CLIENT_SECRET: 'client-secret',
    });
    expect(message).toContain('KAFKA_SASL_OAUTH_TOKEN_URL');
    expect(message).not.toContain('hunter2');
  });
});
