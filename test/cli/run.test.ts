import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

describe('membrane run, misconfigured', () => {
  it('stops at once with one sentence naming every bad variable, and exit code 78 (EX_CONFIG)', async () => {
    const result = await runCli(['run'], {
      PATH: process.env['PATH'],
      KAFKA_BROKERS: 'localhost',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      MEMBRANE_PROCESSING_GUARANTEE: 'maybe_once',
      MEMBRANE_HTTP_PORT: '99999',
      KAFKA_SASL_PASSWORD: 'hunter2',
    });
    expect(result.code).toBe(78);
    const [sentence, hint] = result.stderr.trimEnd().split('\n');
    expect(sentence).toMatch(
      /^membrane: Invalid configuration: KAFKA_BROKERS=localhost .*host:port/,
    );
    expect(sentence).toContain('MEMBRANE_PROCESSING_GUARANTEE=maybe_once');
    expect(sentence).toContain('MEMBRANE_HTTP_PORT=99999');
    expect(hint).toMatch(/^ {2}What to do: /);
    expect(result.stderr).not.toContain('hunter2');
  });
});
