import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from '../../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { committedOf, until } from '../../support/scenario.js';
import { oauthPrincipal, secureEnv } from '../../support/secure.js';

/** An unsecured JWS (`alg: none`), what the local broker's OAUTHBEARER listener validates. */
function unsecuredJwt(claims: Record<string, unknown>): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.`;
}

/** A token endpoint issuing tokens of `lifetimeS`, that can be made to fail (HTTP 503). */
class ShortTokenEndpoint {
  readonly server: Server;
  /** When each token was issued (ms since the epoch). */
  readonly issuedAt: number[] = [];
  principal = '';
  down = false;

  constructor(readonly lifetimeS: number) {
    this.server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (this.down) {
          response
            .writeHead(503, { 'content-type': 'application/json' })
            .end(JSON.stringify({ error: 'temporarily_unavailable' }));
          return;
        }
        this.issuedAt.push(Date.now());
        const now = Math.floor(Date.now() / 1000);
        response.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            access_token: unsecuredJwt({ sub: this.principal, iat: now, exp: now + lifetimeS }),
            token_type: 'Bearer',
            expires_in: lifetimeS,
          }),
        );
      });
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.principal = oauthPrincipal();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/token`;
  }
}

function oauthEnv(base: NodeJS.ProcessEnv, endpoint: ShortTokenEndpoint): NodeJS.ProcessEnv {
  return secureEnv(base, {
    KAFKA_SASL_MECHANISM: 'oauthbearer',
    KAFKA_SASL_USERNAME: undefined,
    KAFKA_SASL_PASSWORD: undefined,
    KAFKA_SASL_OAUTH_TOKEN_URL: endpoint.url,
    KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane-client',
    KAFKA_SASL_OAUTH_CLIENT_SECRET: 'client-secret',
  });
}

/**
 * Tokens that live less than a minute (review 12b): the broker gives each OAUTHBEARER session
 * the token's remaining lifetime and kafkajs re-authenticates a connection 10 s before it
 * ends. membrane used to hand out its cached token until 80 % of its lifetime, so a
 * re-authentication got a session of under 10 s, re-authenticated again at the next request,
 * and the broker refused that (ILLEGAL_SASL_STATE): `run` stopped with 77 within a minute.
 */
describe('OAUTHBEARER tokens that live 15 s', () => {
  const ctx = useOrderTopics(2);
  const endpoint = new ShortTokenEndpoint(15);
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await endpoint.start();
    env = oauthEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), endpoint);
  });

  afterAll(() => {
    endpoint.server.close();
  });

  it('run keeps translating across re-authentications, says once that the tokens are short, and stops cleanly', async () => {
    const topics = ctx.topics();
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, 10) });
    const membrane = spawnCli(['run'], env);
    const committed = committedOf(() => ctx.admin(), topics.group, topics.input);
    await until('the first 10 committed', async () => (await committed()) >= 10, [membrane]);
    // Until membrane has had to take a token issued two lifetimes after its first one: every
    // connection it opened at the start has re-authenticated at least twice by then.
    await until(
      'a token issued two lifetimes after the first',
      () =>
        Promise.resolve(
          membrane.child.exitCode !== null ||
            (endpoint.issuedAt.at(-1) ?? 0) - (endpoint.issuedAt[0] ?? Infinity) >= 30_000,
        ),
      [membrane],
      90_000,
    );
    expect(membrane.child.exitCode, membrane.output()).toBeNull();
    // Still working: the next records are translated on the re-authenticated connections.
    await producer.send({ topic: topics.input, messages: orderMessages(10, 10) });
    await producer.disconnect();
    await until('all 20 committed', async () => (await committed()) >= 20, [membrane]);
    membrane.child.kill('SIGTERM');
    expect(await membrane.exited, membrane.output()).toBe(0);
    const output = membrane.output();
    expect(output).not.toMatch(/ILLEGAL_SASL_STATE|refused membrane's credentials/);
    // One sentence at startup, once.
    const notices = output.match(/issues tokens valid for 15 s only/g) ?? [];
    expect(notices, output).toHaveLength(1);
  }, 150_000);
});

describe('OAUTHBEARER when the identity provider is down as the token runs out', () => {
  const ctx = useOrderTopics(2);
  const endpoint = new ShortTokenEndpoint(30);
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    await endpoint.start();
    env = oauthEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), endpoint);
  });

  afterAll(() => {
    endpoint.server.close();
  });

  it('run stops with exit 69 naming KAFKA_SASL_OAUTH_TOKEN_URL, not 77', async () => {
    const topics = ctx.topics();
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, 10) });
    await producer.disconnect();
    const membrane = spawnCli(['run'], env);
    const committed = committedOf(() => ctx.admin(), topics.group, topics.input);
    await until('the first 10 committed', async () => (await committed()) >= 10, [membrane]);
    endpoint.down = true;
    // The token in hand lasts 30 s: membrane stops within about that.
    await until(
      'membrane stops',
      () => Promise.resolve(membrane.child.exitCode !== null),
      [membrane],
      90_000,
    );
    const code = await membrane.exited;
    const output = membrane.output();
    expect(code, output).toBe(69);
    expect(output).toMatch(
      /^membrane: The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=\S+ answered HTTP 503\.$/m,
    );
    expect(output).toMatch(/What to do: .*KAFKA_SASL_OAUTH_TOKEN_URL/);
    expect(output).not.toMatch(/ILLEGAL_SASL_STATE|refused membrane's credentials/);
  }, 150_000);
});
