/**
 * KAFKA_SASL_OAUTH_CA_FILE: a token endpoint whose certificate a private CA signed. The test
 * is that endpoint, over HTTPS, with a certificate for 127.0.0.1 from a CA made by the local
 * infrastructure's own code (src/infra/secure.ts) in a folder of the test's.
 */
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OauthbearerProviderResponse, SASLOptions } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkaSasl } from '../../../src/adapters/kafka/connection.js';
import { loadConnectionConfig } from '../../../src/app/config.js';
import { isMembraneError } from '../../../src/core/errors.js';
import { createSecureMaterial } from '../../../src/infra/secure.js';

let dir = '';
let caFile = '';
let server: Server;
let url = '';
let asked = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'membrane-oauth-ca-'));
  const material = await createSecureMaterial(join(dir, 'tls'));
  caFile = material.caFile;
  server = createServer(
    {
      cert: await readFile(join(dir, 'tls', 'broker.pem')),
      key: await readFile(join(dir, 'tls', 'broker.key')),
    },
    (request, response) => {
      request.resume();
      request.on('end', () => {
        asked++;
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ access_token: 'private-ca-token', expires_in: 3600 }));
      });
    },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
});

afterAll(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: '127.0.0.1:9093',
    SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
    KAFKA_SSL: 'true',
    KAFKA_SASL_MECHANISM: 'oauthbearer',
    KAFKA_SASL_OAUTH_TOKEN_URL: url,
    KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane-client',
    KAFKA_SASL_OAUTH_CLIENT_SECRET: 'client-secret',
    ...extra,
  };
}

async function token(variables: NodeJS.ProcessEnv): Promise<OauthbearerProviderResponse> {
  const sasl = kafkaSasl(loadConnectionConfig(variables), undefined, () => undefined) as Extract<
    SASLOptions,
    { mechanism: 'oauthbearer' }
  >;
  return sasl.oauthBearerProvider();
}

describe('KAFKA_SASL_OAUTH_CA_FILE', () => {
  it('trusts the token endpoint its CA signed', async () => {
    const before = asked;
    expect((await token(env({ KAFKA_SASL_OAUTH_CA_FILE: caFile }))).value).toBe('private-ca-token');
    expect(asked).toBe(before + 1);
  });

  it('without it, the endpoint is untrusted: exit 78 naming KAFKA_SASL_OAUTH_CA_FILE, never a token request', async () => {
    const before = asked;
    const error: unknown = await token(env()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-tls-untrusted', retriable: false });
    expect((error as Error).message).toMatch(
      /^The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=https:\/\/127\.0\.0\.1:\d+\/token has a TLS certificate not signed by a CA membrane trusts \(.+\)\.$/,
    );
    expect((error as { hint?: string }).hint).toContain('KAFKA_SASL_OAUTH_CA_FILE');
    expect(asked).toBe(before);
  });

  it('with a CA that did not sign the endpoint, says the file given does not hold that CA', async () => {
    const other = await createSecureMaterial(join(dir, 'other-tls'));
    const error: unknown = await token(env({ KAFKA_SASL_OAUTH_CA_FILE: other.caFile })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-tls-untrusted' });
    expect((error as { hint?: string }).hint).toBe(
      `KAFKA_SASL_OAUTH_CA_FILE=${other.caFile} does not hold the CA that signed the token endpoint's certificate: give the PEM file of that CA (or its chain)`,
    );
  });

  it('is checked like the other CA files, and refused with an http:// endpoint or without oauthbearer', () => {
    const refused = (variables: NodeJS.ProcessEnv): string => {
      try {
        loadConnectionConfig(variables);
      } catch (error) {
        if (isMembraneError(error) && error.code === 'config.invalid') return error.message;
        throw error;
      }
      return '';
    };
    expect(refused(env({ KAFKA_SASL_OAUTH_CA_FILE: join(dir, 'missing.pem') }))).toMatch(
      /KAFKA_SASL_OAUTH_CA_FILE/,
    );
    expect(
      refused(
        env({
          KAFKA_SASL_OAUTH_CA_FILE: caFile,
          KAFKA_SASL_OAUTH_TOKEN_URL: 'http://127.0.0.1:1/token',
        }),
      ),
    ).toMatch(/KAFKA_SASL_OAUTH_CA_FILE.*is set but KAFKA_SASL_OAUTH_TOKEN_URL is http:\/\//);
    expect(
      refused({
        KAFKA_BROKERS: '127.0.0.1:9093',
        SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081',
        KAFKA_SASL_OAUTH_CA_FILE: caFile,
      }),
    ).toMatch(/KAFKA_SASL_OAUTH_CA_FILE.*is set but KAFKA_SASL_MECHANISM is not/);
  });
});
