/**
 * Registering a schema (the `membrane dev` demo feed does) with credentials the registry
 * refuses is a permission fault (`registry.unauthorized`, exit 77), not a compatibility one.
 */
import avro from 'avsc';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { exitCodeOf } from '../../../src/cli/errors.js';
import { MembraneError } from '../../../src/core/errors.js';
import { closeServer, listenLocal } from '../../support/net.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await closeServer(server);
  server = undefined;
});

describe('ConfluentRegistryPort.register refused by the registry', () => {
  it.each([401, 403])('HTTP %i is registry.unauthorized (exit 77)', async (status) => {
    server = createServer((_request, response) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`{"error_code":${status},"message":"no"}`);
    });
    const url = `http://127.0.0.1:${await listenLocal(server)}`;
    const port = new ConfluentRegistryPort({ url, username: 'u', password: 'wrong' });
    const error: unknown = await port.register('stock-value', avro.Type.forSchema('string')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(MembraneError);
    expect((error as MembraneError).code).toBe('registry.unauthorized');
    expect(exitCodeOf(error as MembraneError)).toBe(77);
    expect((error as MembraneError).message).toContain('SCHEMA_REGISTRY_URL');
    expect((error as MembraneError).message).not.toContain('wrong');
  });
});
