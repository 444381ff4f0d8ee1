import { once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../src/adapters/kafka/errors.js';
import { spawnCli } from '../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../support/orders.js';
import { oauthPrincipal, secureEnv } from '../support/secure.js';

/**
 * Fresh-eyes review 12 (review12b): problems pinned as they behave today. Each `it` names the
 * problem and what the README promises instead; when one is fixed, its test fails and should
 * be turned into a test of the right behaviour.
 */

describe('review12b: a topic ACL refusal inside a transaction', () => {
  it('PROBLEM: AddPartitionsToTxn refusing one topic reads as transient when another topic comes first', async () => {
    // kafkajs throws the FIRST partition error of the answer. A broker that refuses one topic
    // (TOPIC_AUTHORIZATION_FAILED, 29) answers OPERATION_NOT_ATTEMPTED (55) for every other
    // one, in the order of its own map; when another topic comes first, membrane sees only
    // 55, which it reads as transient: exactly_once `run` then retries the chunk for ever
    // (no WRITE on the quarantine or state topic: "a commit failed and may have happened
    // anyway; adopting the task again", every few seconds, never exit 77), and `quarantine
    // replay` exits 1 with "run it again once Kafka is reachable".
    const require = createRequire(import.meta.url);
    const { parse } =
      require('kafkajs/src/protocol/requests/addPartitionsToTxn/v0/response.js') as {
        parse: (data: unknown) => Promise<unknown>;
      };
    const answer = {
      throttleTime: 0,
      errors: [
        { topic: 'sales.order-placed', partitionErrors: [{ partition: 0, errorCode: 55 }] },
        { topic: 'membrane.quarantine', partitionErrors: [{ partition: 0, errorCode: 29 }] },
      ],
    };
    const thrown = await parse(answer).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((thrown as { type?: string }).type).toBe('OPERATION_NOT_ATTEMPTED');
    // Expected: fatal, kafka.authorization (exit 77) naming membrane.quarantine.
    expect(classifyKafkaError(thrown).kind).toBe('transient');
  });
});

/** An unsecured JWS (`alg: none`), what the local broker's OAUTHBEARER listener validates. */
function unsecuredJwt(claims: Record<string, unknown>): string {
  const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.`;
}

describe('review12b: OAUTHBEARER tokens that live less than a minute', () => {
  const ctx = useOrderTopics(2);
  const LIFETIME_S = 15;
  let issued = 0;
  let principal = '';
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      issued += 1;
      const now = Math.floor(Date.now() / 1000);
      response.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          access_token: unsecuredJwt({ sub: principal, iat: now, exp: now + LIFETIME_S }),
          token_type: 'Bearer',
          expires_in: LIFETIME_S,
        }),
      );
    });
  });
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    principal = oauthPrincipal();
    env = secureEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), {
      KAFKA_SASL_MECHANISM: 'oauthbearer',
      KAFKA_SASL_USERNAME: undefined,
      KAFKA_SASL_PASSWORD: undefined,
      KAFKA_SASL_OAUTH_TOKEN_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`,
      KAFKA_SASL_OAUTH_CLIENT_ID: 'membrane-client',
      KAFKA_SASL_OAUTH_CLIENT_SECRET: 'client-secret',
    });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: ctx.topics().input, messages: orderMessages(0, 10) });
    await producer.disconnect();
  });

  afterAll(() => {
    server.close();
  });

  it('PROBLEM: run stops within the token lifetime with exit 77 "refused membrane\'s credentials (ILLEGAL_SASL_STATE)"', async () => {
    // The broker gives each OAUTHBEARER session the token's remaining lifetime; kafkajs
    // re-authenticates a connection 10 s (reauthenticationThreshold) before its session ends.
    // membrane's provider hands out its cached token until 80 % of the lifetime, so a
    // re-authentication gets a session of under 10 s, which kafkajs re-authenticates again at
    // the next request, and the broker refuses a second re-authentication within a second.
    // The same happens with any lifetime when the identity provider is down for the token's
    // last 20 %: README promises exit 69 naming KAFKA_SASL_OAUTH_TOKEN_URL once it expires.
    const membrane = spawnCli(['run'], env);
    const code = await Promise.race([
      membrane.exited,
      new Promise<'running'>((resolve) => {
        setTimeout(() => {
          resolve('running');
        }, 60_000);
      }),
    ]);
    const output = membrane.output();
    // Expected: still running, a new token every 12 s.
    expect(code, output).toBe(77);
    expect(output).toMatch(
      /^membrane: The Kafka cluster refused membrane's credentials \(ILLEGAL_SASL_STATE\)\.$/m,
    );
    // And the hint names variables OAUTHBEARER does not use.
    expect(output).toMatch(
      /What to do: check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD/,
    );
    expect(issued).toBeGreaterThan(0);
  });
});
