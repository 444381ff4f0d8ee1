import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../support/cli.js';
import { spawnCli } from '../../support/membrane-process.js';
import { expectOrdersTranslatedOnce, orderMessages, useOrderTopics } from '../../support/orders.js';
import { catchUpAndStop, committedOf } from '../../support/scenario.js';
import { oauthPrincipal, secureEnv } from '../../support/secure.js';

const N = 20;

/** What membrane wrote to stderr for the user, without pino's JSON log lines. */
function report(result: CliResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
    .join('\n');
}

/**
 * An unsecured JWS (`alg: none`), what the local broker's OAUTHBEARER listener validates
 * (Kafka's OAuthBearerUnsecuredValidatorCallbackHandler): `sub` is the principal.
 */
function unsecuredJwt(claims: Record<string, unknown>): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.`;
}

/** A client-credentials token endpoint of the test's own, counting the tokens it issued. */
class TokenEndpoint {
  readonly server: Server;
  issued = 0;
  /** What the next tokens claim (the broker checks `sub`, `iat` and `exp`). */
  claims: () => Record<string, unknown> = () => ({});

  constructor() {
    this.server = createServer((request, response) => {
      const authorization = request.headers.authorization ?? '';
      const [id] = Buffer.from(authorization.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      request.resume();
      request.on('end', () => {
        if (id !== 'membrane-client') {
          response
            .writeHead(401, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: 'invalid_client' }));
          return;
        }
        this.issued += 1;
        const now = Math.floor(Date.now() / 1000);
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            access_token: unsecuredJwt({ iat: now, exp: now + 600, ...this.claims() }),
            token_type: 'Bearer',
            expires_in: 600,
          }),
        );
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/token`;
  }
}

/**
 * OAUTHBEARER through a real broker: the local broker's SASL_SSL listener enables it, and the
 * test is the identity provider. membrane fetches a token with the client-credentials grant
 * (KAFKA_SASL_OAUTH_*) and every command — doctor, run, status — connects with it.
 */
describe('membrane over SASL/OAUTHBEARER (client-credentials tokens)', () => {
  const ctx = useOrderTopics(2);
  const endpoint = new TokenEndpoint();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    endpoint.server.listen(0, '127.0.0.1');
    await once(endpoint.server, 'listening');
    const principal = oauthPrincipal();
    endpoint.claims = () => ({ sub: principal, scope: 'kafka' });
    env = secureEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), {
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_USERNAME: undefined,
      KAFKA_SASL_PASSWORD: undefined,
      KAFKA_SASL_OAUTH_TOKEN_URL: endpoint.url,
      KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane-client',
      KAFKA_SASL_OAUTH_CLIENT_SECRET: 'client-secret',
      KAFKA_SASL_OAUTH_SCOPE: 'kafka',
    });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: ctx.topics().input, messages: orderMessages(0, N) });
    await producer.disconnect();
  });

  afterAll(() => {
    endpoint.server.close();
  });

  it('doctor connects with a token from the endpoint', async () => {
    const before = endpoint.issued;
    const doctor = await runCli(['doctor'], env);
    expect(doctor.code, doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(/^ok {4}Kafka \S+: cluster \S+, 1 broker\(s\)$/m);
    expect(endpoint.issued).toBeGreaterThan(before);
  });

  it('run translates every order exactly once over OAUTHBEARER, and status sees it caught up', async () => {
    const topics = ctx.topics();
    const membrane = spawnCli(['run'], env);
    await catchUpAndStop(
      membrane,
      committedOf(() => ctx.admin(), topics.group, topics.input),
      N,
    );
    await expectOrdersTranslatedOnce(ctx.kafka, topics, N);

    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as { partitions: { lag: number }[] };
    expect(parsed.partitions.every((p) => p.lag === 0)).toBe(true);
  });

  it('a token the broker refuses (expired) is exit 77 naming the OAuth variables', async () => {
    const principal = oauthPrincipal();
    endpoint.claims = () => ({ sub: principal, iat: 1_000_000, exp: 1_000_600 });
    try {
      const result = await runCli(['doctor'], env);
      expect(result.code, result.stderr).toBe(77);
      expect(report(result)).toMatch(
        /^membrane: The brokers at \S+ refused membrane's SASL credentials [^\n]+\.\n {2}What to do: check KAFKA_SASL_OAUTH_CLIENT_ID, KAFKA_SASL_OAUTH_CLIENT_SECRET, KAFKA_SASL_OAUTH_SCOPE and KAFKA_SASL_OAUTH_EXTENSIONS\.$/,
      );
    } finally {
      endpoint.claims = () => ({ sub: principal, scope: 'kafka' });
    }
  });

  it('a client the endpoint refuses is exit 77 naming the client ID and secret', async () => {
    const result = await runCli(['status'], { ...env, KAFKA_SASL_OAUTH_CLIENT_ID: 'someone-else' });
    expect(result.code, result.stderr).toBe(77);
    expect(report(result)).toMatch(/KAFKA_SASL_OAUTH_CLIENT_ID/);
  });
});
