import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import {
  createServer as createNetServer,
  type AddressInfo,
  type Server as NetServer,
} from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { IGNORED_KAFKAJS_WARNING, pinoLogCreator } from '../../../src/adapters/kafka/client.js';
import {
  connectionFault,
  kafkaConnection,
  kafkaSasl,
  kafkaTls,
  oauthTokenProvider,
  reachKafka,
  type KafkaConnection,
} from '../../../src/adapters/kafka/connection.js';
import { loadConnectionConfig } from '../../../src/app/config.js';
import { MembraneError } from '../../../src/core/errors.js';
import pino from 'pino';
import { logLevel } from 'kafkajs';

const TLS = join(import.meta.dirname, 'fixtures/tls');
const file = (name: string): string => join(TLS, name);
const pem = (name: string): Buffer => readFileSync(file(name));

const BASE = { KAFKA_BROKERS: '127.0.0.1:9093', SCHEMA_REGISTRY_URL: 'http://registry:8081' };

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function listen<T extends NetServer | Server>(
  server: T,
): Promise<{ server: T; port: number }> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(
    () =>
      new Promise<void>((resolve) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  );
  return { server, port: (server.address() as AddressInfo).port };
}

/** A TLS server that completes the handshake, then closes (a listener that wants SASL). */
async function tlsServer(
  cert: string,
  options: { requestCert?: boolean } = {},
): Promise<{ port: number; sockets: TLSSocket[] }> {
  const sockets: TLSSocket[] = [];
  const server = createTlsServer(
    {
      cert: pem(`${cert}.pem`),
      key: pem(`${cert}.key`),
      ca: pem('ca.pem'),
      requestCert: options.requestCert ?? false,
      rejectUnauthorized: options.requestCert ?? false,
    },
    (socket) => {
      sockets.push(socket);
      socket.once('data', () => socket.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  const { port } = await listen(server);
  return { port, sockets };
}

function connection(env: Record<string, string>, port: number): KafkaConnection {
  return kafkaConnection(
    loadConnectionConfig({
      ...BASE,
      KAFKA_BROKERS: `127.0.0.1:${port}`,
      KAFKA_CONNECT_TIMEOUT_MS: '3000',
      ...env,
    }),
    'test',
  );
}

async function fault(promise: Promise<unknown>): Promise<MembraneError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MembraneError);
  return error as MembraneError;
}

describe('kafkajs options from the connection variables', () => {
  it('is plaintext without SASL by default', () => {
    const built = kafkaConnection(loadConnectionConfig(BASE), 'status');
    expect(built).toEqual({
      brokers: ['127.0.0.1:9093'],
      clientId: 'membrane-status',
      connectTimeoutMs: 30_000,
    });
  });

  it('uses the system CAs for KAFKA_SSL=true alone', () => {
    expect(kafkaTls(loadConnectionConfig({ ...BASE, KAFKA_SSL: 'true' }))).toBe(true);
  });

  it('passes the PEM files, the key password and the host-name choice to tls.connect', () => {
    const tls = kafkaTls(
      loadConnectionConfig({
        ...BASE,
        KAFKA_SSL_CA_FILE: file('ca.pem'),
        KAFKA_SSL_CERT_FILE: file('client.pem'),
        KAFKA_SSL_KEY_FILE: file('client-encrypted.key'),
        KAFKA_SSL_KEY_PASSWORD: 'fixture-pass',
        KAFKA_SSL_CHECK_HOSTNAME: 'false',
      }),
    );
    expect(tls).toMatchObject({
      ca: pem('ca.pem'),
      cert: pem('client.pem'),
      key: pem('client-encrypted.key'),
      passphrase: 'fixture-pass',
    });
    if (tls === true || tls === undefined) throw new Error('expected tls.connect options');
    // Host names are not checked; chains still are (rejectUnauthorized is left at true).
    expect(tls.checkServerIdentity?.('other.example', {} as never)).toBeUndefined();
    expect(tls.rejectUnauthorized).toBeUndefined();
  });

  it('checks host names unless told not to', () => {
    const tls = kafkaTls(loadConnectionConfig({ ...BASE, KAFKA_SSL_CA_FILE: file('ca.pem') }));
    expect(tls).toEqual({ ca: pem('ca.pem') });
  });

  it.each(['plain', 'scram-sha-256', 'scram-sha-512'] as const)('builds SASL %s', (mechanism) => {
    expect(
      kafkaSasl(
        loadConnectionConfig({
          ...BASE,
          KAFKA_SASL_MECHANISM: mechanism,
          KAFKA_SASL_USERNAME: 'svc',
          KAFKA_SASL_PASSWORD: 'pw',
        }),
      ),
    ).toEqual({ mechanism, username: 'svc', password: 'pw' });
  });

  it('builds OAUTHBEARER with a token provider', () => {
    const sasl = kafkaSasl(
      loadConnectionConfig({
        ...BASE,
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_OAUTH_TOKEN_URL: 'https://idp.example/token',
        KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane',
        KAFKA_SASL_OAUTH_CLIENT_SECRET: 'secret',
      }),
    );
    expect(sasl).toMatchObject({ mechanism: 'oauthbearer' });
    expect(typeof (sasl as { oauthBearerProvider?: unknown }).oauthBearerProvider).toBe('function');
  });

  it('drops only kafkajs\'s "limiting retries" warning, and keeps every other', () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      {
        write: (line: string) => {
          lines.push((JSON.parse(line) as { msg: string }).msg);
        },
      },
    );
    const log = pinoLogCreator(logger)(logLevel.WARN);
    const entry = (namespace: string, message: string) => ({
      namespace,
      level: logLevel.WARN,
      label: 'WARN',
      log: { timestamp: '', logger: 'kafkajs', message },
    });
    log(entry('Producer', IGNORED_KAFKAJS_WARNING));
    log(entry('Producer', 'another warning'));
    log(entry('Consumer', IGNORED_KAFKAJS_WARNING));
    expect(lines).toEqual(['another warning', IGNORED_KAFKAJS_WARNING]);
  });
});

interface TokenRequest {
  readonly authorization: string | undefined;
  readonly body: URLSearchParams;
}

/** A token endpoint answering with `answer(n)` to its n-th request (from 1). */
async function tokenEndpoint(
  answer: (n: number) => { status: number; body: unknown },
): Promise<{ url: string; requests: TokenRequest[] }> {
  const requests: TokenRequest[] = [];
  const server = createHttpServer((request: IncomingMessage, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      requests.push({
        authorization: request.headers.authorization,
        body: new URLSearchParams(text),
      });
      const { status, body } = answer(requests.length);
      response
        .writeHead(status, { 'content-type': 'application/json' })
        .end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  });
  const { port } = await listen(server);
  return { url: `http://127.0.0.1:${port}/oauth2/token`, requests };
}

describe('the OAUTHBEARER token provider', () => {
  it('asks for a client-credentials token with HTTP Basic, scope and extensions', async () => {
    const endpoint = await tokenEndpoint((n) => ({
      status: 200,
      body: { access_token: `token-${n}`, token_type: 'Bearer', expires_in: 3600 },
    }));
    const provider = oauthTokenProvider({
      tokenUrl: endpoint.url,
      clientId: 'membrane app',
      clientSecret: 's3cret:x',
      scope: 'kafka.read kafka.write',
      extensions: { logicalCluster: 'lkc-abc12', identityPoolId: 'pool-XyZ' },
    });
    await expect(provider()).resolves.toEqual({
      value: 'token-1',
      extensions: { logicalCluster: 'lkc-abc12', identityPoolId: 'pool-XyZ' },
    });
    const [request] = endpoint.requests;
    expect(request?.body.get('grant_type')).toBe('client_credentials');
    expect(request?.body.get('scope')).toBe('kafka.read kafka.write');
    // RFC 6749 §2.3.1: each part form-encoded before joining.
    expect(request?.authorization).toBe(
      `Basic ${Buffer.from('membrane%20app:s3cret%3Ax').toString('base64')}`,
    );
  });

  it('keeps a token for 80 % of its lifetime, then asks for a new one', async () => {
    const endpoint = await tokenEndpoint((n) => ({
      status: 200,
      body: { access_token: `token-${n}`, expires_in: 100 },
    }));
    let now = 1_000_000;
    const provider = oauthTokenProvider({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 's',
      now: () => now,
    });
    expect((await provider()).value).toBe('token-1');
    now += 79_000;
    expect((await provider()).value).toBe('token-1');
    now += 1_000;
    expect((await provider()).value).toBe('token-2');
    expect(endpoint.requests).toHaveLength(2);
  });

  it('reads the lifetime from a JWT without expires_in, and shares one request between callers', async () => {
    let now = 1_700_000_000_000;
    const jwt = (exp: number): string =>
      [
        Buffer.from('{"alg":"none"}').toString('base64url'),
        Buffer.from(JSON.stringify({ exp })).toString('base64url'),
        '',
      ].join('.');
    const endpoint = await tokenEndpoint(() => ({
      status: 200,
      body: { access_token: jwt(now / 1000 + 1000) },
    }));
    const provider = oauthTokenProvider({
      tokenUrl: endpoint.url,
      clientId: 'c',
      clientSecret: 's',
      now: () => now,
    });
    const [a, b, c] = await Promise.all([provider(), provider(), provider()]);
    expect(a).toEqual(b);
    expect(b).toEqual(c);
    expect(endpoint.requests).toHaveLength(1);
    now += 790_000;
    await provider();
    expect(endpoint.requests).toHaveLength(1);
    now += 20_000;
    await provider();
    expect(endpoint.requests).toHaveLength(2);
  });

  it('names the client variables when the endpoint refuses the client, without the secret', async () => {
    const endpoint = await tokenEndpoint(() => ({
      status: 401,
      body: { error: 'invalid_client' },
    }));
    const error = await fault(
      oauthTokenProvider({
        tokenUrl: endpoint.url,
        clientId: 'membrane',
        clientSecret: 's3cret',
      })(),
    );
    expect(error.code).toBe('kafka.oauth-refused');
    expect(error.message).toContain('KAFKA_SASL_OAUTH_CLIENT_ID=membrane');
    expect(error.hint).toContain('KAFKA_SASL_OAUTH_CLIENT_SECRET');
    expect(`${error.message}${error.hint ?? ''}`).not.toContain('s3cret');
  });

  it('names KAFKA_SASL_OAUTH_SCOPE for invalid_scope and the URL for an answer without a token', async () => {
    const scope = await tokenEndpoint(() => ({ status: 400, body: { error: 'invalid_scope' } }));
    const refused = await fault(
      oauthTokenProvider({ tokenUrl: scope.url, clientId: 'c', clientSecret: 's', scope: 'x' })(),
    );
    expect(refused).toMatchObject({ code: 'kafka.oauth-invalid' });
    expect(refused.message).toContain('KAFKA_SASL_OAUTH_SCOPE=x');
    const page = await tokenEndpoint(() => ({ status: 200, body: '<html>login</html>' }));
    const invalid = await fault(
      oauthTokenProvider({ tokenUrl: page.url, clientId: 'c', clientSecret: 's' })(),
    );
    expect(invalid).toMatchObject({ code: 'kafka.oauth-invalid' });
    expect(invalid.message).toContain(`KAFKA_SASL_OAUTH_TOKEN_URL=${page.url}`);
  });

  it('says the endpoint does not answer, naming KAFKA_SASL_OAUTH_TOKEN_URL, and tries again next time', async () => {
    const error = await fault(
      oauthTokenProvider({
        tokenUrl: 'http://user:pw@127.0.0.1:1/token',
        clientId: 'c',
        clientSecret: 's',
      })(),
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-unreachable', retriable: true });
    expect(error.message).toMatch(
      /KAFKA_SASL_OAUTH_TOKEN_URL=\S*127\.0\.0\.1:1\/token does not answer/,
    );
    expect(error.message).not.toContain(':pw@');
  });
});

describe('the first connection', () => {
  it('gives up after KAFKA_CONNECT_TIMEOUT_MS with one sentence naming KAFKA_BROKERS', async () => {
    const started = Date.now();
    const error = await fault(
      reachKafka({ brokers: ['127.0.0.1:1'], clientId: 't', connectTimeoutMs: 700 }),
    );
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(error.code).toBe('kafka.unreachable');
    expect(error.message).toMatch(
      /^No Kafka broker in KAFKA_BROKERS=127\.0\.0\.1:1 answered within 700 ms \(KAFKA_CONNECT_TIMEOUT_MS\): connect ECONNREFUSED/,
    );
  });

  it('names KAFKA_SSL_CA_FILE when the brokers certificate is not trusted', async () => {
    const { port } = await tlsServer('server');
    const error = await fault(reachKafka(connection({ KAFKA_SSL: 'true' }, port)));
    expect(error.code).toBe('kafka.tls-untrusted');
    expect(error.hint).toContain('KAFKA_SSL_CA_FILE');
    const other = await fault(
      reachKafka(connection({ KAFKA_SSL_CA_FILE: file('other-ca.pem') }, port)),
    );
    expect(other.code).toBe('kafka.tls-untrusted');
  });

  it('names KAFKA_SSL_CHECK_HOSTNAME when the certificate is for another host, and skips only that check when told', async () => {
    const { port, sockets } = await tlsServer('other-host');
    const error = await fault(reachKafka(connection({ KAFKA_SSL_CA_FILE: file('ca.pem') }, port)));
    expect(error.code).toBe('kafka.tls-hostname');
    expect(error.hint).toContain('KAFKA_SSL_CHECK_HOSTNAME=false');
    const before = sockets.length;
    const past = await fault(
      reachKafka(
        connection({ KAFKA_SSL_CA_FILE: file('ca.pem'), KAFKA_SSL_CHECK_HOSTNAME: 'false' }, port),
      ),
    );
    // The handshake succeeded (this server then closes at the first request: it "wants SASL").
    expect(sockets.length).toBeGreaterThan(before);
    expect(past.code).toBe('kafka.sasl-mechanism');
    // The chain is still checked.
    const untrusted = await fault(
      reachKafka(
        connection(
          { KAFKA_SSL_CA_FILE: file('other-ca.pem'), KAFKA_SSL_CHECK_HOSTNAME: 'false' },
          port,
        ),
      ),
    );
    expect(untrusted.code).toBe('kafka.tls-untrusted');
  });

  it('names the client certificate variables when the brokers want one', async () => {
    const { port } = await tlsServer('server', { requestCert: true });
    const error = await fault(reachKafka(connection({ KAFKA_SSL_CA_FILE: file('ca.pem') }, port)));
    expect(error.code).toBe('kafka.authentication');
    expect(error.hint).toContain('KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
  });

  it('names KAFKA_SSL when a plaintext client meets a TLS port', async () => {
    const { port } = await tlsServer('server');
    const error = await fault(reachKafka(connection({}, port)));
    expect(error.code).toBe('kafka.tls-mismatch');
    expect(error.hint).toContain('KAFKA_SSL=true');
  });

  it('names KAFKA_SSL when a TLS client meets a plaintext port', async () => {
    const { port } = await listen(
      createNetServer((socket) => {
        socket.once('data', () => socket.destroy());
      }),
    );
    const error = await fault(reachKafka(connection({ KAFKA_SSL: 'true' }, port)));
    expect(error.code).toBe('kafka.tls-mismatch');
    expect(error.message).toContain('KAFKA_SSL is on');
    expect(error.hint).toContain('KAFKA_SSL=false');
  });
});

describe('connectionFault', () => {
  const plain: KafkaConnection = {
    brokers: ['b:9092'],
    clientId: 't',
    connectTimeoutMs: 1,
    sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
  };
  const kafkaError = (name: string, fields: Record<string, unknown>, message = 'x'): Error =>
    Object.assign(new Error(message), { name, ...fields });

  it('reads SASL refusals: credentials (77), a mechanism the listener lacks (78)', () => {
    expect(
      connectionFault(
        kafkaError('KafkaJSSASLAuthenticationError', {}, 'SASL SCRAM SHA512 authentication failed'),
        plain,
      ),
    ).toMatchObject({ code: 'kafka.authentication' });
    expect(
      connectionFault(
        kafkaError('KafkaJSProtocolError', { type: 'ILLEGAL_SASL_STATE' }, 'Request is not valid'),
        plain,
      ),
    ).toMatchObject({ code: 'kafka.sasl-mechanism' });
    expect(
      connectionFault(
        kafkaError(
          'KafkaJSSASLAuthenticationError',
          {},
          'SASL SCRAM-SHA-512 mechanism is not supported by the server',
        ),
        plain,
      )?.message,
    ).toContain('KAFKA_SASL_MECHANISM=scram-sha-512');
  });

  it('reads an ACL refusal as authorization, and a refused connection as worth retrying', () => {
    expect(
      connectionFault(
        kafkaError('KafkaJSProtocolError', { type: 'CLUSTER_AUTHORIZATION_FAILED' }),
        plain,
      ),
    ).toMatchObject({ code: 'kafka.authorization' });
    expect(
      connectionFault(
        kafkaError('KafkaJSNumberOfRetriesExceeded', {
          cause: kafkaError('KafkaJSConnectionError', { code: 'ECONNREFUSED' }),
        }),
        plain,
      ),
    ).toBeUndefined();
  });

  it("returns membrane's own error from the chain (a token provider's)", () => {
    const own = new MembraneError('kafka.oauth-refused', 'refused');
    expect(connectionFault(kafkaError('KafkaJSNonRetriableError', { cause: own }), plain)).toBe(
      own,
    );
  });
});
