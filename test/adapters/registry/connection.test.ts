import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createSchemaRegistry, pingRegistry } from '../../../src/adapters/registry/client.js';
import {
  reachRegistry,
  registryFetch,
  registryOptions,
} from '../../../src/adapters/registry/connection.js';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { loadConnectionConfig } from '../../../src/app/config.js';
import { MembraneError } from '../../../src/core/errors.js';

const TLS = join(import.meta.dirname, '../kafka/fixtures/tls');
const file = (name: string): string => join(TLS, name);
const pem = (name: string): Buffer => readFileSync(file(name));

/** The TLS socket of an https request. */
function peerOf(socket: unknown): TLSSocket {
  if (!(socket instanceof TLSSocket)) throw new Error('not a TLS socket');
  return socket;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }
});

interface Seen {
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly clientCert: boolean;
}

/** An https registry (certificate for 127.0.0.1 from the test CA) answering `status`. */
async function registry(
  options: { requestCert?: boolean; status?: number; body?: string } = {},
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer(
    {
      cert: pem('server.pem'),
      key: pem('server.key'),
      ca: pem('ca.pem'),
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.requestCert ?? false,
    },
    (request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        seen.push({
          method: request.method,
          url: request.url,
          headers: request.headers,
          body,
          clientCert: Object.keys(peerOf(request.socket).getPeerCertificate()).length > 0,
        });
        response
          .writeHead(options.status ?? 200, {
            'content-type': 'application/vnd.schemaregistry.v1+json',
          })
          .end(options.body ?? '["orders-value"]');
      });
    },
  );
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function optionsFor(url: string, env: Record<string, string> = {}) {
  return registryOptions(
    loadConnectionConfig({ KAFKA_BROKERS: 'k:9092', SCHEMA_REGISTRY_URL: url, ...env }),
  );
}

async function failure(promise: Promise<unknown>): Promise<MembraneError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MembraneError);
  return error as MembraneError;
}

describe('registry options from the connection variables', () => {
  it('carries basic credentials, a bearer token, and the TLS files', () => {
    expect(
      optionsFor('https://r', { SCHEMA_REGISTRY_USERNAME: 'u', SCHEMA_REGISTRY_PASSWORD: 'p' }),
    ).toEqual({ url: 'https://r', username: 'u', password: 'p' });
    expect(
      optionsFor('https://r', {
        SCHEMA_REGISTRY_BEARER_TOKEN: 't',
        SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
        SCHEMA_REGISTRY_CERT_FILE: file('client.pem'),
        SCHEMA_REGISTRY_KEY_FILE: file('client.key'),
      }),
    ).toEqual({
      url: 'https://r',
      bearerToken: 't',
      tls: { ca: pem('ca.pem'), cert: pem('client.pem'), key: pem('client.key') },
    });
  });

  it('is plain fetch without TLS files', () => {
    expect(registryFetch(undefined)).toBe(fetch);
  });
});

describe('the registry over TLS', () => {
  it('trusts SCHEMA_REGISTRY_CA_FILE and presents the client certificate', async () => {
    const { url, seen } = await registry({ requestCert: true });
    const options = optionsFor(url, {
      SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
      SCHEMA_REGISTRY_CERT_FILE: file('client.pem'),
      SCHEMA_REGISTRY_KEY_FILE: file('client.key'),
      SCHEMA_REGISTRY_BEARER_TOKEN: 'tok3n',
    });
    await expect(pingRegistry(options, 5000)).resolves.toEqual(['orders-value']);
    expect(seen[0]).toMatchObject({
      url: '/subjects',
      clientCert: true,
      headers: { authorization: 'Bearer tok3n' },
    });
  });

  it('sends the port’s requests (with a body) through the same agent', async () => {
    const { url, seen } = await registry({ body: '{"id":7}' });
    const port = new ConfluentRegistryPort(
      optionsFor(url, {
        SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
        SCHEMA_REGISTRY_USERNAME: 'svc',
        SCHEMA_REGISTRY_PASSWORD: 'pw',
      }),
    );
    const avro = await import('avsc');
    const id = await port.register('orders-value', avro.default.Type.forSchema('string'));
    expect(id).toBe(7);
    expect(seen[0]).toMatchObject({
      method: 'POST',
      url: '/subjects/orders-value/versions',
      headers: { authorization: `Basic ${Buffer.from('svc:pw').toString('base64')}` },
    });
    expect(JSON.parse(seen[0]?.body ?? '')).toEqual({ schema: '"string"', schemaType: 'AVRO' });
  });

  it('passes the agent and a bearer token to @kafkajs/confluent-schema-registry', async () => {
    const { url, seen } = await registry({
      body: '{"schema":"\\"string\\"","schemaType":"AVRO"}',
    });
    const client = createSchemaRegistry(
      optionsFor(url, {
        SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
        SCHEMA_REGISTRY_BEARER_TOKEN: 'b',
      }),
    );
    await client.getSchema(3);
    expect(seen[0]).toMatchObject({
      url: '/schemas/ids/3',
      headers: { authorization: 'Bearer b' },
    });
  });

  it('names SCHEMA_REGISTRY_CA_FILE when the certificate is not trusted', async () => {
    const { url } = await registry();
    const error = await failure(reachRegistry(optionsFor(url), 5000));
    expect(error.code).toBe('registry.tls-untrusted');
    expect(error.hint).toContain('SCHEMA_REGISTRY_CA_FILE');
  });

  it('names the credential variables when the registry refuses them', async () => {
    const { url } = await registry({ status: 401, body: '{"error_code":401}' });
    const options = optionsFor(url, {
      SCHEMA_REGISTRY_CA_FILE: file('ca.pem'),
      SCHEMA_REGISTRY_BEARER_TOKEN: 'expired',
    });
    const error = await failure(reachRegistry(options, 5000));
    expect(error.code).toBe('registry.unauthorized');
    expect(error.message).toContain(`SCHEMA_REGISTRY_URL=${url}`);
    expect(error.hint).toBe('check SCHEMA_REGISTRY_BEARER_TOKEN');
    expect(error.message).not.toContain('expired');
  });

  it('names SCHEMA_REGISTRY_URL when nothing answers in time', async () => {
    const started = Date.now();
    const error = await failure(reachRegistry({ url: 'http://127.0.0.1:1' }, 600));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.code).toBe('registry.unreachable');
    expect(error.message).toMatch(
      /^The schema registry at SCHEMA_REGISTRY_URL=http:\/\/127\.0\.0\.1:1 did not answer within 600 ms/,
    );
  });
});
