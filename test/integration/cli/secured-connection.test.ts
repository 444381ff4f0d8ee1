import { describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../../support/cli.js';
import { secureEnv, secureListener } from '../../support/secure.js';

/**
 * The connection variables against the broker's SASL_SSL listener (test/support/secure.ts):
 * the listener's own name checked against its certificate, and the faults that name
 * KAFKA_SSL or KAFKA_SASL_MECHANISM.
 */
const infra = inject('infra');

function base(): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    SCHEMA_REGISTRY_URL: infra.registryUrl,
    KAFKA_CONNECT_TIMEOUT_MS: '3000',
  };
}

function said(result: CliResult): string {
  return result.stderr.trimEnd();
}

describe('membrane against the SASL_SSL listener', () => {
  it('checks the host name against the certificate (localhost), over SCRAM-SHA-256', async () => {
    const listener = secureListener();
    const result = await runCli(
      ['doctor'],
      secureEnv(base(), {
        KAFKA_BROKERS: listener.brokers
          .map((b) => b.replace(/^127\.0\.0\.1:/, 'localhost:'))
          .join(','),
        KAFKA_SASL_MECHANISM: 'SCRAM-SHA-256',
      }),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ok {4}Kafka localhost:\d+: cluster /);
  });

  it('plaintext to the TLS port: exit 78 naming KAFKA_SSL', async () => {
    const result = await runCli(
      ['status'],
      secureEnv(base(), {
        KAFKA_SSL: undefined,
        KAFKA_SSL_CA_FILE: undefined,
        KAFKA_SASL_MECHANISM: undefined,
        KAFKA_SASL_USERNAME: undefined,
        KAFKA_SASL_PASSWORD: undefined,
      }),
    );
    expect(result.code, result.stderr).toBe(78);
    expect(said(result)).toMatch(
      /^membrane: The broker at \S+ closed the connection at membrane's first request: it expects TLS or SASL on that port \(KAFKA_SSL is off\)\.\n {2}What to do: set KAFKA_SSL=true/,
    );
  });

  it('TLS without SASL: exit 78 naming KAFKA_SASL_MECHANISM', async () => {
    const result = await runCli(
      ['quarantine', 'list'],
      secureEnv(base(), {
        KAFKA_SASL_MECHANISM: undefined,
        KAFKA_SASL_USERNAME: undefined,
        KAFKA_SASL_PASSWORD: undefined,
      }),
    );
    expect(result.code, result.stderr).toBe(78);
    expect(said(result)).toMatch(
      /it expects SASL on that port\.\n {2}What to do: set KAFKA_SASL_MECHANISM/,
    );
  });
});
