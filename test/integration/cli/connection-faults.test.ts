import { describe, expect, inject, it } from 'vitest';
import { runCli, type CliResult } from '../../support/cli.js';
import { holdPort } from '../../support/net.js';
import { ORDER_KEYS } from '../../support/orders.js';

/**
 * Infrastructure faults end every command with one sentence naming the variable to fix and
 * a documented exit code (69 unavailable, 77 permission, 78 configuration), never a stack or
 * kafkajs's retry logs.
 */
const infra = inject('infra');

function env(extra: Record<string, string>): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'],
    HOME: process.env['HOME'],
    KAFKA_BROKERS: infra.brokers.join(','),
    SCHEMA_REGISTRY_URL: infra.registryUrl,
    MEMBRANE_MAPPINGS: 'mappings',
    MEMBRANE_GROUP_ID: `connection-faults-${process.pid}`,
    MEMBRANE_HTTP_PORT: '0',
    KAFKA_CONNECT_TIMEOUT_MS: '1500',
    LOG_LEVEL: 'info',
    ...ORDER_KEYS,
    ...extra,
  };
}

/** stderr is the sentence and its hint: two lines, no stack, no kafkajs log lines. */
function expectOneSentence(result: CliResult, pattern: RegExp): void {
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(2);
  expect(lines[0]).toMatch(pattern);
  expect(lines[1]).toMatch(/^ {2}What to do: /);
  expect(result.stderr).not.toMatch(/\n\s+at |unexpected error|kafkajs/);
}

const COMMANDS = [['run'], ['status'], ['quarantine', 'list'], ['doctor']];

describe('brokers that do not answer', () => {
  it.each(COMMANDS)(
    'membrane %s gives up after KAFKA_CONNECT_TIMEOUT_MS: exit 69 naming KAFKA_BROKERS',
    async (...args) => {
      const started = Date.now();
      const result = await runCli(args, env({ KAFKA_BROKERS: '127.0.0.1:1' }));
      expect(result.code, result.stderr).toBe(69);
      expectOneSentence(
        result,
        /^membrane: No Kafka broker in KAFKA_BROKERS=127\.0\.0\.1:1 answered within 1500 ms \(KAFKA_CONNECT_TIMEOUT_MS\)/,
      );
      // Far from kafkajs's ~30 s of retries (the CLI's own start takes a few seconds here).
      expect(Date.now() - started).toBeLessThan(25_000);
    },
  );
});

describe('TLS spoken to the plaintext listener', () => {
  it.each(COMMANDS)('membrane %s exits 78 naming KAFKA_SSL', async (...args) => {
    const result = await runCli(args, env({ KAFKA_SSL: 'true' }));
    expect(result.code, result.stderr).toBe(78);
    expectOneSentence(
      result,
      /^membrane: The broker at \S+ does not speak TLS on that port \(KAFKA_SSL is on\)/,
    );
    expect(result.stderr).toContain('set KAFKA_SSL=false');
  });
});

describe('a SASL mechanism the listener does not speak', () => {
  it('exits 78 naming KAFKA_SASL_MECHANISM', async () => {
    const result = await runCli(
      ['status'],
      env({
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'svc',
        KAFKA_SASL_PASSWORD: 'pw',
      }),
    );
    expect(result.code, result.stderr).toBe(78);
    expectOneSentence(result, /KAFKA_SASL_MECHANISM=scram-sha-512/);
  });
});

describe('a taken MEMBRANE_HTTP_PORT', () => {
  it('membrane run exits 78 naming it', async () => {
    const held = await holdPort();
    try {
      const result = await runCli(['run'], env({ MEMBRANE_HTTP_PORT: String(held.port) }));
      expect(result.code, result.stderr).toBe(78);
      expectOneSentence(result, new RegExp(`^membrane: MEMBRANE_HTTP_PORT=${held.port} is taken`));
    } finally {
      await held.release();
    }
  });
});

describe('a registry that does not answer', () => {
  it('membrane doctor reports Kafka ok and exits 69 naming SCHEMA_REGISTRY_URL', async () => {
    const result = await runCli(['doctor'], env({ SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' }));
    expect(result.code, result.stderr).toBe(69);
    expect(result.stdout).toMatch(/^ok {4}Kafka /);
    expectOneSentence(
      result,
      /^membrane: The schema registry at SCHEMA_REGISTRY_URL=http:\/\/127\.0\.0\.1:1 did not answer within 1500 ms/,
    );
  });

  it('membrane run exits 69 naming SCHEMA_REGISTRY_URL', async () => {
    const result = await runCli(['run'], env({ SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1' }));
    expect(result.code, result.stderr).toBe(69);
    expectOneSentence(result, /SCHEMA_REGISTRY_URL=http:\/\/127\.0\.0\.1:1 did not answer/);
  });
});

describe('membrane doctor with everything reachable', () => {
  it('says ok for both and exits 0', async () => {
    const result = await runCli(['doctor'], env({}));
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^ok {4}Kafka .*\nok {4}Registry /);
    expect(result.stderr).toBe('');
  });
});
