/**
 * The OAUTHBEARER token provider and kafkajs's re-authentication (review 12b): kafkajs
 * re-authenticates a connection once its session — the token's remaining lifetime, as the
 * broker counts it — has less than 10 s left, and a broker refuses a second re-authentication
 * within a second. So no token may be handed out with less than that (plus a margin) left.
 */
import { describe, expect, it } from 'vitest';
import {
  KAFKAJS_REAUTH_THRESHOLD_MS,
  OAUTH_LAST_USE_MARGIN_MS,
  OAUTH_REFRESH_MARGIN_MS,
  oauthTokenProvider,
} from '../../../src/adapters/kafka/connection.js';

/** A token endpoint issuing `token-N` valid for `lifetimeS`, down while `up` is false. */
function endpoint(lifetimeS: number): {
  fetchImpl: typeof fetch;
  issued: () => number;
  up: (v: boolean) => void;
} {
  let issued = 0;
  let up = true;
  const fetchImpl: typeof fetch = () => {
    if (!up)
      return Promise.resolve(
        new Response(JSON.stringify({ error: 'temporarily_unavailable' }), { status: 503 }),
      );
    issued++;
    return Promise.resolve(
      new Response(JSON.stringify({ access_token: `token-${issued}`, expires_in: lifetimeS }), {
        status: 200,
      }),
    );
  };
  return { fetchImpl, issued: () => issued, up: (v) => (up = v) };
}

const settings = { tokenUrl: 'https://idp.example/token', clientId: 'c', clientSecret: 's' };
const MIN_LEFT = KAFKAJS_REAUTH_THRESHOLD_MS + OAUTH_REFRESH_MARGIN_MS;

describe('oauthTokenProvider and the tokens it hands out', () => {
  it('refreshes a one-minute token 20 s before it expires, not at 80 % of its lifetime (12 s before)', async () => {
    let clock = 0;
    const idp = endpoint(60);
    const provider = oauthTokenProvider({ ...settings, now: () => clock }, idp.fetchImpl);
    expect((await provider()).value).toBe('token-1');
    clock = 60_000 - MIN_LEFT - 1;
    expect((await provider()).value).toBe('token-1');
    clock = 60_000 - MIN_LEFT;
    expect((await provider()).value).toBe('token-2');
  });

  it('still refreshes a long-lived token at 80 % of its lifetime', async () => {
    let clock = 0;
    const idp = endpoint(3600);
    const provider = oauthTokenProvider({ ...settings, now: () => clock }, idp.fetchImpl);
    await provider();
    clock = 2_880_000 - 1;
    expect((await provider()).value).toBe('token-1');
    clock = 2_880_000;
    expect((await provider()).value).toBe('token-2');
  });

  it('asks for a new 15 s token at every call (none lives 20 s), and says so once', async () => {
    let clock = 0;
    const idp = endpoint(15);
    const notices: string[] = [];
    const provider = oauthTokenProvider(
      { ...settings, now: () => clock, onNotice: (s) => notices.push(s) },
      idp.fetchImpl,
    );
    for (let i = 1; i <= 4; i++) {
      expect((await provider()).value).toBe(`token-${i}`);
      clock += 5_000;
    }
    expect(notices).toHaveLength(1);
    expect(notices[0]).toBe(
      'The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=https://idp.example/token issues tokens valid for 15 s only: kafkajs re-authenticates each broker connection 10 s before its token expires, so membrane asks for a new token every 5 s or so per connection (tokens valid for a minute or more avoid this).',
    );
  });

  it('says that tokens valid for 12 s or less cannot work', async () => {
    const notices: string[] = [];
    await oauthTokenProvider(
      { ...settings, onNotice: (s) => notices.push(s) },
      endpoint(8).fetchImpl,
    )();
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(
      /issues tokens valid for 8 s, too short for Kafka: .* so the brokers will refuse membrane; configure the identity provider to issue tokens valid for a minute or more\.$/,
    );
  });

  it('says nothing of tokens valid for a minute or more', async () => {
    const notices: string[] = [];
    await oauthTokenProvider(
      { ...settings, onNotice: (s) => notices.push(s) },
      endpoint(60).fetchImpl,
    )();
    expect(notices).toEqual([]);
  });

  it('with the identity provider down, hands out the token in hand while it has more than 12 s left, then fails for good (exit 69, not retried by kafkajs)', async () => {
    let clock = 0;
    const idp = endpoint(60);
    const provider = oauthTokenProvider({ ...settings, now: () => clock }, idp.fetchImpl);
    await provider();
    idp.up(false);
    const lastUse = 60_000 - KAFKAJS_REAUTH_THRESHOLD_MS - OAUTH_LAST_USE_MARGIN_MS;
    clock = lastUse - 1;
    expect((await provider()).value).toBe('token-1');
    clock = lastUse;
    const error: unknown = await provider().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: 'kafka.oauth-unreachable',
      retriable: false,
      message:
        'The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=https://idp.example/token answered HTTP 503.',
    });
    // kafkajs restarts a consumer when the innermost cause of its error is retriable.
    expect((error as Error).cause).toBeUndefined();
  });

  it('before membrane ever had a token, a failure stays retriable (the first connection retries it until KAFKA_CONNECT_TIMEOUT_MS)', async () => {
    const idp = endpoint(60);
    idp.up(false);
    const error: unknown = await oauthTokenProvider(settings, idp.fetchImpl)().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'kafka.oauth-unreachable', retriable: true });
  });
});
