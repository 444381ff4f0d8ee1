/**
 * `membrane dev` against an existing cluster (KAFKA_BROKERS and SCHEMA_REGISTRY_URL
 * set) connects like every other command (README, "Connecting to Kafka and the registry"):
 * brokers that do not answer end in one sentence naming KAFKA_BROKERS, exit 69, within
 * KAFKA_CONNECT_TIMEOUT_MS. Found: it printed "Kafka and the schema registry are ready (env)"
 * without checking either, then the demo feed's unbounded `admin.connect()` failed after
 * kafkajs's own retries (~15 s) and kafkajs's error reached the user as "unexpected error (a
 * bug…)" with a stack, exit 70. (The demo feed also registers its schema through
 * `new ConfluentRegistryPort({ url })`, without SCHEMA_REGISTRY_USERNAME/PASSWORD,
 * _BEARER_TOKEN or _CA_FILE: a registry that needs them refuses it, exit 1 with the hint
 * "check the subject's compatibility rules".)
 */
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { closeServer, listenLocal } from '../../support/net.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await closeServer(server);
  server = undefined;
});

describe('membrane dev with an existing cluster whose brokers do not answer', () => {
  it('exits 69 naming KAFKA_BROKERS, not 70 with a stack', { timeout: 60_000 }, async () => {
    // A registry that answers: only the brokers are at fault.
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('[]');
    });
    const registry = `http://127.0.0.1:${await listenLocal(server)}`;
    const result = await runCli(['dev'], {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      KAFKA_BROKERS: '127.0.0.1:1',
      SCHEMA_REGISTRY_URL: registry,
      KAFKA_CONNECT_TIMEOUT_MS: '2000',
      MEMBRANE_HTTP_PORT: '0',
    });
    expect(result.stderr).not.toContain('unexpected error');
    expect(result.stderr).toContain('KAFKA_BROKERS');
    expect(result.code).toBe(69);
  });
});
