/**
 * The OAUTHBEARER token provider asks for a new token at 80 % of the old one's
 * lifetime so that an identity provider's hiccup can be ridden out. Found: a failed early
 * refresh throws although the cached token is still valid for another 20 % of its lifetime,
 * so every connection kafkajs opens in that window (a broker restart, a rebalance) fails
 * authentication with kafka.oauth-unreachable. Java's client keeps the valid token and retries.
 */
import { describe, expect, it } from 'vitest';
import { oauthTokenProvider } from '../../../src/adapters/kafka/connection.js';

describe('oauthTokenProvider when the refresh fails before the token expires', () => {
  it('keeps handing out the still-valid token, and takes the next one once the endpoint is back', async () => {
    let clock = 1_000_000;
    let up = true;
    let issued = 0;
    const fetchImpl: typeof fetch = () => {
      if (!up) return Promise.reject(new TypeError('fetch failed'));
      issued++;
      return Promise.resolve(
        new Response(JSON.stringify({ access_token: `token-${issued}`, expires_in: 100 }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        }),
      );
    };
    const provider = oauthTokenProvider(
      { tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 's', now: () => clock },
      fetchImpl,
    );
    expect((await provider()).value).toBe('token-1');
    // 85 s in: past the refresh point (80 s), 15 s before the token expires; the IdP is down.
    clock += 85_000;
    up = false;
    expect((await provider()).value).toBe('token-1');
    // 90 s in: 10 s left is no longer enough for a session kafkajs keeps (it re-authenticates
    // 10 s before the end): the failure is thrown, not retriable, instead of a token the
    // broker's re-authentication rule would refuse (ILLEGAL_SASL_STATE).
    clock += 5_000;
    const error: unknown = await provider().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-unreachable', retriable: false });
    // The IdP is back: a new one.
    up = true;
    clock += 1_000;
    expect((await provider()).value).toBe('token-2');
  });
});

describe('oauthTokenProvider refused or failing', () => {
  const answering =
    (status: number, body: unknown): typeof fetch =>
    () =>
      Promise.resolve(
        new Response(JSON.stringify(body), {
          status,
          headers: { 'content-type': 'application/json' },
        }),
      );
  const settings = { tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 's' };

  it('an HTTP 503 names KAFKA_SASL_OAUTH_TOKEN_URL and is retriable', async () => {
    const error: unknown = await oauthTokenProvider(
      settings,
      answering(503, { error: 'temporarily_unavailable' }),
    )().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-unreachable', retriable: true });
    expect((error as Error).message).toContain('KAFKA_SASL_OAUTH_TOKEN_URL');
  });

  it('invalid_grant points at the client ID and secret', async () => {
    const error: unknown = await oauthTokenProvider(
      settings,
      answering(400, { error: 'invalid_grant' }),
    )().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-refused' });
    expect((error as { hint?: string }).hint).toContain('KAFKA_SASL_OAUTH_CLIENT_SECRET');
  });
});
