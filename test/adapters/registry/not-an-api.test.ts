/**
 * A "registry" that answers GET /subjects with 200 but not with the API's JSON array
 * (a login page of a proxy, the registry's web UI, a JSON object) is a configuration fault:
 * `registry.not-an-api` (exit 78) naming SCHEMA_REGISTRY_URL, at once. Found: HTML ended as
 * `registry.unreachable` (exit 69, "did not answer") after the whole timeout, and a JSON object
 * passed `membrane doctor` ("ok … undefined subject(s)", exit 0).
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reachRegistry } from '../../../src/adapters/registry/connection.js';
import { closeServer, listenLocal } from '../../support/net.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await closeServer(server);
  server = undefined;
});

async function answering(type: string, body: string): Promise<string> {
  server = createServer((_request, response) => {
    response.writeHead(200, { 'content-type': type });
    response.end(body);
  });
  return `http://127.0.0.1:${await listenLocal(server)}/api`;
}

/** How reachRegistry ends, and how long it took. */
async function outcome(url: string, timeoutMs: number): Promise<{ code: unknown; ms: number }> {
  const started = Date.now();
  const error: unknown = await reachRegistry({ url }, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { code: (error as { code?: unknown } | undefined)?.code, ms: Date.now() - started };
}

describe('reachRegistry against something that is not a registry API', () => {
  it('an HTML page answered with 200 is registry.not-an-api, without waiting for the timeout', async () => {
    const url = await answering('text/html', '<html><body>Sign in</body></html>');
    const { code, ms } = await outcome(url, 8_000);
    expect(code).toBe('registry.not-an-api');
    expect(ms).toBeLessThan(5_000);
  });

  it('a JSON object instead of the subjects array is registry.not-an-api, not a success', async () => {
    const url = await answering('application/json', '{"error_code":0}');
    const { code } = await outcome(url, 5_000);
    expect(code).toBe('registry.not-an-api');
  });
});

describe('reachRegistry speaking TLS to a plaintext port', () => {
  // Found: exit 69 after the whole timeout, with OpenSSL's multi-line error
  // ("…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:…ssl3_record.c:350:\n").
  it('ends in one line naming SCHEMA_REGISTRY_URL, at once', async () => {
    const url = (await answering('application/json', '[]')).replace('http:', 'https:');
    const started = Date.now();
    const error: unknown = await reachRegistry({ url }, 8_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain('SCHEMA_REGISTRY_URL');
    expect(message).not.toMatch(/\n/);
    expect((error as { code?: unknown }).code).toBe('registry.tls-mismatch');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('reachRegistry speaking plaintext to a TLS port', () => {
  it('is registry.tls-mismatch naming SCHEMA_REGISTRY_URL, at once', async () => {
    const tls = join(import.meta.dirname, '../kafka/fixtures/tls');
    const https = createHttpsServer(
      {
        cert: readFileSync(join(tls, 'server.pem')),
        key: readFileSync(join(tls, 'server.key')),
      },
      (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('[]');
      },
    );
    https.on('tlsClientError', () => undefined);
    server = https;
    const url = `http://127.0.0.1:${await listenLocal(https)}`;
    const started = Date.now();
    const error: unknown = await reachRegistry({ url }, 8_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { code?: unknown }).code).toBe('registry.tls-mismatch');
    expect((error as Error).message).toContain('SCHEMA_REGISTRY_URL');
    expect((error as Error).message).not.toMatch(/\n/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
