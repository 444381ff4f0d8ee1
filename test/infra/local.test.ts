import { describe, expect, it } from 'vitest';
import { infraExportLines, type LocalInfraState } from '../../src/infra/local.js';

const base: LocalInfraState = {
  kafka: {
    version: '3.9.1',
    pid: 1,
    port: 9092,
    controllerPort: 9093,
    brokers: ['127.0.0.1:9092'],
  },
  registry: { version: '3.0.9', pid: 2, port: 8080, url: 'http://127.0.0.1:8080/apis/ccompat/v7' },
  startedAt: '2026-01-01T00:00:00.000Z',
};

describe('infraExportLines', () => {
  it('prints the plaintext broker and the registry', () => {
    expect(infraExportLines(base)).toEqual([
      'export KAFKA_BROKERS=127.0.0.1:9092',
      'export SCHEMA_REGISTRY_URL=http://127.0.0.1:8080/apis/ccompat/v7',
    ]);
  });

  it('adds the secured listener as MEMBRANE_TEST_* variables, quoting what a shell would split', () => {
    const lines = infraExportLines({
      ...base,
      kafka: {
        ...base.kafka,
        secure: {
          port: 9094,
          brokers: ['127.0.0.1:9094'],
          mechanisms: ['scram-sha-512', 'scram-sha-256'],
          caFile: "/home/a b/it's/ca.pem",
          clientCertFile: '/c/client.pem',
          clientKeyFile: '/c/client.key',
          username: 'membrane',
          password: 'f00d',
        },
      },
    });
    expect(lines.slice(2)).toEqual([
      'export MEMBRANE_TEST_SECURE_BROKERS=127.0.0.1:9094',
      `export MEMBRANE_TEST_CA_FILE='/home/a b/it'\\''s/ca.pem'`,
      'export MEMBRANE_TEST_CLIENT_CERT_FILE=/c/client.pem',
      'export MEMBRANE_TEST_CLIENT_KEY_FILE=/c/client.key',
      'export MEMBRANE_TEST_SCRAM_USERNAME=membrane',
      'export MEMBRANE_TEST_SCRAM_PASSWORD=f00d',
    ]);
    // None of membrane's own variables: they would send the plaintext KAFKA_BROKERS through TLS.
    expect(lines.join('\n')).not.toMatch(/KAFKA_SSL|KAFKA_SASL/);
  });
});
