/**
 * How membrane reaches Kafka, built once from the connection variables (src/app/config.ts)
 * and used by every command: TLS (CA bundle, client certificate, host-name check), SASL
 * (PLAIN, SCRAM, OAUTHBEARER with an OIDC client-credentials token provider), and a first
 * connection bounded by KAFKA_CONNECT_TIMEOUT_MS that ends in one sentence naming the
 * variable to fix.
 */
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import type { ConnectionConfig } from '../../app/config.js';
import { isMembraneError, MembraneError, messageOf } from '../../core/errors.js';
import { redactUrl, redactUrlsIn } from '../../core/redact.js';
import { registryFetch } from '../registry/connection.js';
import { createKafka, type ClusterInfo } from './client.js';

/** What createKafka needs to reach the cluster, besides logging and timeouts. */
export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** kafkajs's `ssl`: true (the system's CAs), or tls.connect options; absent: plaintext. */
  readonly ssl?: true | ConnectionOptions;
  readonly sasl?: SASLOptions;
  /** How long the first connection keeps trying (KAFKA_CONNECT_TIMEOUT_MS). */
  readonly connectTimeoutMs: number;
}

/** The connection variables this module reads. */
export type KafkaConnectionConfig = Pick<
  ConnectionConfig,
  | 'KAFKA_BROKERS'
  | 'KAFKA_CLIENT_ID'
  | 'KAFKA_SSL'
  | 'KAFKA_SSL_CA_FILE'
  | 'KAFKA_SSL_CERT_FILE'
  | 'KAFKA_SSL_KEY_FILE'
  | 'KAFKA_SSL_KEY_PASSWORD'
  | 'KAFKA_SSL_CHECK_HOSTNAME'
  | 'KAFKA_SASL_MECHANISM'
  | 'KAFKA_SASL_USERNAME'
  | 'KAFKA_SASL_PASSWORD'
  | 'KAFKA_SASL_OAUTH_TOKEN_URL'
  | 'KAFKA_SASL_OAUTH_CLIENT_ID'
  | 'KAFKA_SASL_OAUTH_CLIENT_SECRET'
  | 'KAFKA_SASL_OAUTH_SCOPE'
  | 'KAFKA_SASL_OAUTH_EXTENSIONS'
  | 'KAFKA_SASL_OAUTH_CA_FILE'
  | 'KAFKA_CONNECT_TIMEOUT_MS'
>;

/** Whether the configuration asks for TLS: KAFKA_SSL, else any KAFKA_SSL_* file. */
export function usesTls(config: KafkaConnectionConfig): boolean {
  return (
    config.KAFKA_SSL ??
    (config.KAFKA_SSL_CA_FILE !== undefined ||
      config.KAFKA_SSL_CERT_FILE !== undefined ||
      config.KAFKA_SSL_KEY_FILE !== undefined)
  );
}

/** kafkajs's `ssl` option: PEM contents already read (and checked) by the config loader. */
export function kafkaTls(config: KafkaConnectionConfig): true | ConnectionOptions | undefined {
  if (!usesTls(config)) return undefined;
  const options: ConnectionOptions = {
    ...(config.KAFKA_SSL_CA_FILE ? { ca: config.KAFKA_SSL_CA_FILE.pem } : {}),
    ...(config.KAFKA_SSL_CERT_FILE ? { cert: config.KAFKA_SSL_CERT_FILE.pem } : {}),
    ...(config.KAFKA_SSL_KEY_FILE ? { key: config.KAFKA_SSL_KEY_FILE.pem } : {}),
    ...(config.KAFKA_SSL_KEY_PASSWORD === undefined
      ? {}
      : { passphrase: config.KAFKA_SSL_KEY_PASSWORD }),
    // The chain is still verified (rejectUnauthorized stays true); only the name is not.
    ...(config.KAFKA_SSL_CHECK_HOSTNAME ? {} : { checkServerIdentity: () => undefined }),
  };
  return Object.keys(options).length === 0 ? true : options;
}

/**
 * What membrane says once per process, outside any logger (the connection is built before
 * one exists for some commands): one `membrane: …` line on stderr, as its other sentences.
 */
const told = new Set<string>();
export function noticeOnStderr(sentence: string): void {
  if (told.has(sentence)) return;
  told.add(sentence);
  process.stderr.write(`membrane: ${sentence}\n`);
}

/**
 * kafkajs's `sasl` option; for OAUTHBEARER a provider that caches its token, asking the
 * token endpoint through `fetchImpl` (default: fetch, over an https agent trusting
 * KAFKA_SASL_OAUTH_CA_FILE when it is set) and telling `onNotice` about short-lived tokens.
 */
export function kafkaSasl(
  config: KafkaConnectionConfig,
  fetchImpl?: typeof fetch,
  onNotice: (sentence: string) => void = noticeOnStderr,
): SASLOptions | undefined {
  const mechanism = config.KAFKA_SASL_MECHANISM;
  if (mechanism === undefined) return undefined;
  if (mechanism === 'oauthbearer') {
    const ca = config.KAFKA_SASL_OAUTH_CA_FILE;
    const provider = oauthTokenProvider(
      {
        onNotice,
        tokenUrl: config.KAFKA_SASL_OAUTH_TOKEN_URL ?? '',
        clientId: config.KAFKA_SASL_OAUTH_CLIENT_ID ?? '',
        clientSecret: config.KAFKA_SASL_OAUTH_CLIENT_SECRET ?? '',
        // One token request never outlasts the connection's own deadline.
        timeoutMs: Math.min(10_000, config.KAFKA_CONNECT_TIMEOUT_MS),
        ...(ca === undefined ? {} : { caFile: ca.path }),
        ...(config.KAFKA_SASL_OAUTH_SCOPE === undefined
          ? {}
          : { scope: config.KAFKA_SASL_OAUTH_SCOPE }),
        ...(config.KAFKA_SASL_OAUTH_EXTENSIONS === undefined
          ? {}
          : { extensions: config.KAFKA_SASL_OAUTH_EXTENSIONS }),
      },
      // Node 20's fetch takes no CA without the undici package: the registry's fetch over
      // node:https with an agent holding it (src/adapters/registry/connection.ts).
      fetchImpl ?? (ca === undefined ? fetch : registryFetch({ ca: ca.pem })),
    );
    return { mechanism: 'oauthbearer', oauthBearerProvider: provider };
  }
  const credentials = {
    username: config.KAFKA_SASL_USERNAME ?? '',
    password: config.KAFKA_SASL_PASSWORD ?? '',
  };
  return mechanism === 'plain'
    ? { mechanism, ...credentials }
    : mechanism === 'scram-sha-256'
      ? { mechanism, ...credentials }
      : { mechanism, ...credentials };
}

/**
 * The connection of one command. `suffix` tells its clients apart in the broker's logs
 * (`membrane-status`); the run itself has none.
 */
export function kafkaConnection(
  config: KafkaConnectionConfig,
  suffix?: string,
  fetchImpl?: typeof fetch,
  onNotice?: (sentence: string) => void,
): KafkaConnection {
  const ssl = kafkaTls(config);
  const sasl = kafkaSasl(config, fetchImpl, onNotice);
  return {
    brokers: config.KAFKA_BROKERS,
    clientId: suffix === undefined ? config.KAFKA_CLIENT_ID : `${config.KAFKA_CLIENT_ID}-${suffix}`,
    connectTimeoutMs: config.KAFKA_CONNECT_TIMEOUT_MS,
    ...(ssl === undefined ? {} : { ssl }),
    ...(sasl === undefined ? {} : { sasl }),
  };
}

/** The parts of a KafkaConnection createKafka takes (`ssl`, `sasl`, brokers, client ID). */
export function clientOptions(connection: KafkaConnection): {
  brokers: readonly string[];
  clientId: string;
  ssl?: KafkaConfig['ssl'];
  sasl?: SASLOptions;
} {
  return {
    brokers: connection.brokers,
    clientId: connection.clientId,
    ...(connection.ssl === undefined ? {} : { ssl: connection.ssl }),
    ...(connection.sasl === undefined ? {} : { sasl: connection.sasl }),
  };
}

// ---------------------------------------------------------------------------------------
// OAUTHBEARER: an OIDC client-credentials token, cached

export interface OauthSettings {
  readonly tokenUrl: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope?: string;
  readonly extensions?: Readonly<Record<string, string>>;
  /** KAFKA_SASL_OAUTH_CA_FILE, when the token endpoint is trusted through it. */
  readonly caFile?: string;
  /** How long one token request may take; 10 s by default. */
  readonly timeoutMs?: number;
  /** Part of a token's lifetime it is used for before a new one is asked (0.8). */
  readonly refreshAt?: number;
  /**
   * How long before its session ends kafkajs re-authenticates a connection: kafkajs's
   * `reauthenticationThreshold`, 10 s unless the client sets another (membrane does not).
   */
  readonly reauthThresholdMs?: number;
  /**
   * Told once, in one sentence, when the identity provider's tokens are so short-lived that
   * membrane asks for one at (nearly) every re-authentication, or that they cannot work.
   */
  readonly onNotice?: (sentence: string) => void;
  readonly now?: () => number;
}

/** kafkajs's default `reauthenticationThreshold` (src/network/connection.js). */
export const KAFKAJS_REAUTH_THRESHOLD_MS = 10_000;
/**
 * A token is handed out only while it has this much more than kafkajs's threshold left:
 * the broker makes a connection's session last as long as the token has left, and kafkajs
 * re-authenticates a connection once its session has less than the threshold left. A token
 * with less left would give a session that kafkajs re-authenticates at its very next request,
 * and a broker refuses a re-authentication within a second of the last (ILLEGAL_SASL_STATE).
 * The margin covers the time a token takes to reach the broker and clocks a little apart.
 */
export const OAUTH_REFRESH_MARGIN_MS = 10_000;
/**
 * When a refresh fails (the identity provider down), the token in hand is still handed out
 * while it has at least kafkajs's threshold plus this left: the session it gives lasts long
 * enough for the next re-authentication not to come within the broker's one second.
 */
export const OAUTH_LAST_USE_MARGIN_MS = 2_000;
/** Tokens shorter-lived than this make membrane say so once (see `onNotice`). */
export const OAUTH_SHORT_LIFETIME_MS = 60_000;

export interface OauthToken {
  readonly value: string;
  readonly extensions?: Record<string, string>;
}

/** A JWT's `exp` (seconds since the epoch), when the token is a JWT that has one. */
function jwtExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as unknown;
    const exp =
      claims !== null && typeof claims === 'object'
        ? (claims as Record<string, unknown>)['exp']
        : undefined;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * kafkajs's `oauthBearerProvider`: asks the token endpoint for a client-credentials token
 * (RFC 6749 §4.4, the client authenticated with HTTP Basic as §2.3.1 requires servers to
 * accept) and keeps it for `refreshAt` (80 %) of its lifetime (`expires_in`, else the JWT's
 * `exp`; a token with neither is asked anew for each connection), and never once it has less
 * than kafkajs's re-authentication threshold plus {@link OAUTH_REFRESH_MARGIN_MS} left (20 s):
 * kafkajs calls it for every new connection and every re-authentication, which it starts
 * when a connection's session (the token's remaining lifetime, as the broker counts it) has
 * less than the threshold left, so every token handed out gives a session kafkajs keeps for
 * at least the margin. A token that lives less than that is asked anew at every call.
 *
 * From the refresh point on, a failed refresh hands out the token in hand while it still has
 * the threshold plus {@link OAUTH_LAST_USE_MARGIN_MS} left, and is retried on a later call;
 * after that the failure is thrown: the broker would otherwise get a token whose session
 * ends before kafkajs's next request, then refuse the re-authentication that follows
 * (ILLEGAL_SASL_STATE, read as refused credentials). Concurrent calls share one request. A
 * failure is a MembraneError naming the variable to fix: `kafka.oauth-unreachable` (the
 * endpoint does not answer or answers 5xx/429; exit 69), `kafka.oauth-tls-untrusted` (its
 * certificate is not signed by a trusted CA: KAFKA_SASL_OAUTH_CA_FILE, exit 78),
 * `kafka.oauth-refused` (it refuses the client), `kafka.oauth-invalid` (its answer is not a
 * token).
 */
export function oauthTokenProvider(
  settings: OauthSettings,
  fetchImpl: typeof fetch = fetch,
): () => Promise<OauthToken> {
  const now = settings.now ?? Date.now;
  const refreshAt = settings.refreshAt ?? 0.8;
  const threshold = settings.reauthThresholdMs ?? KAFKAJS_REAUTH_THRESHOLD_MS;
  const shown = redactUrl(settings.tokenUrl);
  let cached: { token: OauthToken; refreshFrom: number; lastUse: number } | undefined;
  let pending: Promise<OauthToken> | undefined;
  let noticed = false;

  const notice = (lifetimeMs: number): void => {
    if (noticed || settings.onNotice === undefined || lifetimeMs >= OAUTH_SHORT_LIFETIME_MS) return;
    noticed = true;
    const seconds = Math.round(lifetimeMs / 100) / 10;
    const needed = (threshold + OAUTH_LAST_USE_MARGIN_MS) / 1000;
    settings.onNotice(
      lifetimeMs <= threshold + OAUTH_LAST_USE_MARGIN_MS
        ? `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} issues tokens valid for ${seconds} s, too short for Kafka: a connection needs one valid for more than ${needed} s (kafkajs re-authenticates ${threshold / 1000} s before a token expires, and a broker refuses a second re-authentication within a second), so the brokers will refuse membrane; configure the identity provider to issue tokens valid for a minute or more.`
        : `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} issues tokens valid for ${seconds} s only: kafkajs re-authenticates each broker connection ${threshold / 1000} s before its token expires, so membrane asks for a new token every ${Math.max(1, Math.round((lifetimeMs - threshold) / 1000))} s or so per connection (tokens valid for a minute or more avoid this).`,
    );
  };

  const request = async (): Promise<OauthToken> => {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (settings.scope !== undefined) body.set('scope', settings.scope);
    // §2.3.1: client ID and secret form-encoded, then joined and base64-encoded.
    const basic = Buffer.from(
      `${encodeURIComponent(settings.clientId)}:${encodeURIComponent(settings.clientSecret)}`,
    ).toString('base64');
    const asked = now();
    let response: Response;
    try {
      response = await fetchImpl(settings.tokenUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: body.toString(),
        signal: AbortSignal.timeout(settings.timeoutMs ?? 10_000),
      });
    } catch (error) {
      const cause = error instanceof Error && error.cause ? ` (${messageOf(error.cause)})` : '';
      const codes = chain(error).map((link) => prop(link, 'code'));
      if (codes.some((code) => typeof code === 'string' && UNTRUSTED.has(code)))
        throw new MembraneError(
          'kafka.oauth-tls-untrusted',
          `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} has a TLS certificate not signed by a CA membrane trusts${redactUrlsIn(cause)}.`,
          {
            hint:
              settings.caFile === undefined
                ? "set KAFKA_SASL_OAUTH_CA_FILE to the PEM file of the CA that signed the token endpoint's certificate"
                : `KAFKA_SASL_OAUTH_CA_FILE=${settings.caFile} does not hold the CA that signed the token endpoint's certificate: give the PEM file of that CA (or its chain)`,
          },
        );
      throw new MembraneError(
        'kafka.oauth-unreachable',
        `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} does not answer: ${redactUrlsIn(messageOf(error))}${redactUrlsIn(cause)}.`,
        { retriable: true, hint: 'check KAFKA_SASL_OAUTH_TOKEN_URL and that it is reachable' },
      );
    }
    const text = await response.text().catch(() => '');
    let answer: Record<string, unknown> | undefined;
    try {
      const parsed = JSON.parse(text) as unknown;
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
        answer = parsed as Record<string, unknown>;
    } catch {
      answer = undefined;
    }
    if (!response.ok) {
      const error = typeof answer?.['error'] === 'string' ? answer['error'] : undefined;
      const refused =
        response.status === 401 ||
        response.status === 403 ||
        error === 'invalid_client' ||
        error === 'unauthorized_client' ||
        // Some identity providers answer a client-credentials grant with a wrong secret so.
        error === 'invalid_grant';
      if (refused)
        throw new MembraneError(
          'kafka.oauth-refused',
          `The OAuth token endpoint ${shown} refused KAFKA_SASL_OAUTH_CLIENT_ID=${settings.clientId}: HTTP ${response.status}${error === undefined ? '' : ` ${error}`}.`,
          { hint: 'check KAFKA_SASL_OAUTH_CLIENT_ID and KAFKA_SASL_OAUTH_CLIENT_SECRET' },
        );
      if (error === 'invalid_scope')
        throw new MembraneError(
          'kafka.oauth-invalid',
          `The OAuth token endpoint ${shown} refused KAFKA_SASL_OAUTH_SCOPE${settings.scope === undefined ? ' (not set)' : `=${settings.scope}`}: invalid_scope.`,
          {
            hint: 'set KAFKA_SASL_OAUTH_SCOPE to a scope the identity provider grants this client',
          },
        );
      if (response.status >= 500 || response.status === 429)
        throw new MembraneError(
          'kafka.oauth-unreachable',
          `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} answered HTTP ${response.status}.`,
          {
            retriable: true,
            hint: 'the identity provider is failing; retry later, or check KAFKA_SASL_OAUTH_TOKEN_URL',
          },
        );
      throw new MembraneError(
        'kafka.oauth-invalid',
        `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} answered HTTP ${response.status}${error === undefined ? '' : ` ${error}`}.`,
        { hint: "set KAFKA_SASL_OAUTH_TOKEN_URL to the identity provider's token endpoint" },
      );
    }
    const value = answer?.['access_token'];
    if (typeof value !== 'string' || value === '')
      throw new MembraneError(
        'kafka.oauth-invalid',
        `The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=${shown} answered without an access_token.`,
        { hint: "set KAFKA_SASL_OAUTH_TOKEN_URL to the identity provider's token endpoint" },
      );
    const expiresIn = Number(answer?.['expires_in']);
    const exp = jwtExpiry(value);
    const lifetimeMs =
      Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn * 1000
        : exp !== undefined
          ? exp * 1000 - asked
          : 0;
    const token: OauthToken = settings.extensions
      ? { value, extensions: { ...settings.extensions } }
      : { value };
    if (lifetimeMs > 0) notice(lifetimeMs);
    const expires = asked + lifetimeMs;
    cached =
      lifetimeMs > 0
        ? {
            token,
            refreshFrom: Math.min(
              asked + lifetimeMs * refreshAt,
              expires - threshold - OAUTH_REFRESH_MARGIN_MS,
            ),
            lastUse: expires - threshold - OAUTH_LAST_USE_MARGIN_MS,
          }
        : undefined;
    return token;
  };
  const refresh = (): Promise<OauthToken> =>
    (pending ??= request().finally(() => {
      pending = undefined;
    }));

  /**
   * A failure once membrane has had a token: the one in hand is no longer good for a session,
   * so the connection cannot authenticate. Not retriable for kafkajs: its retry would send a
   * second SASL handshake on the connection whose handshake this call interrupted, which the
   * broker refuses (ILLEGAL_SASL_STATE, read as refused credentials); the failure itself
   * (the endpoint down: exit 69) is what stops membrane.
   */
  const final = (error: unknown): never => {
    // No `cause`: kafkajs restarts a consumer whose error's innermost cause is retriable.
    if (isMembraneError(error) && error.retriable && everIssued)
      throw new MembraneError(
        error.code,
        error.message,
        error.hint === undefined ? {} : { hint: error.hint },
      );
    throw error;
  };
  let everIssued = false;
  const ask = (): Promise<OauthToken> =>
    refresh().then((token) => {
      everIssued = true;
      return token;
    }, final);

  return () => {
    const at = now();
    if (cached !== undefined && at < cached.refreshFrom) return Promise.resolve(cached.token);
    if (cached !== undefined && at < cached.lastUse) {
      // Past the refresh point but still good for a session kafkajs keeps: a new token is
      // asked; when that fails (the identity provider down), the one in hand is handed out
      // and the refresh tried again on a later call.
      const held = cached.token;
      return ask().catch(() => held);
    }
    return ask();
  };
}

// ---------------------------------------------------------------------------------------
// The first connection, bounded, and what its failure means

/** Walks `cause` (and kafkajs's `originalError`) from the outermost error inwards. */
function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let current: unknown = error;
  while (current !== null && typeof current === 'object' && !out.includes(current)) {
    out.push(current);
    if (out.length > 16) break;
    const record = current as Record<string, unknown>;
    current = record['cause'] ?? record['originalError'];
  }
  return out;
}

function prop(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object'
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

const EXPIRED = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * What a failed first connection to the brokers means, as a MembraneError naming the
 * variable to fix; undefined when it may be passing (a refused or reset TCP connection, a
 * timeout, a broker not yet answering): keep trying until the deadline.
 */
export function connectionFault(
  error: unknown,
  connection: KafkaConnection,
): MembraneError | undefined {
  const links = chain(error);
  const own = links.find(isMembraneError);
  if (own !== undefined) return own;
  const brokers = connection.brokers.join(',');
  const codes = links.map((link) => prop(link, 'code')).filter((c) => typeof c === 'string');
  const types = links.map((link) => prop(link, 'type')).filter((t) => typeof t === 'string');
  const names = links.map((link) => prop(link, 'name')).filter((n) => typeof n === 'string');
  const message = messageOf(error);
  const config = (code: string, sentence: string, hint: string): MembraneError =>
    new MembraneError(code, sentence, { cause: error, hint });

  if (codes.some((c) => UNTRUSTED.has(c)))
    return config(
      'kafka.tls-untrusted',
      `The brokers' TLS certificate is not signed by a CA membrane trusts (${message}).`,
      "set KAFKA_SSL_CA_FILE to the PEM file of the CA that signed the brokers' certificates",
    );
  if (codes.some((c) => EXPIRED.has(c)))
    return config(
      'kafka.tls-expired',
      `The brokers' TLS certificate is not valid now (${message}).`,
      "renew the brokers' certificate, or check this machine's clock",
    );
  if (codes.includes('ERR_TLS_CERT_ALTNAME_INVALID'))
    return config(
      'kafka.tls-hostname',
      `The brokers' TLS certificate does not name the host membrane connected to (${message}).`,
      'list the brokers in KAFKA_BROKERS by a name their certificate holds, or set KAFKA_SSL_CHECK_HOSTNAME=false (the chain is still verified)',
    );
  if (
    /alert (certificate required|bad certificate|unknown ca|certificate unknown)/i.test(message) ||
    codes.some((c) =>
      /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_UNKNOWN)/.test(c),
    )
  )
    return new MembraneError(
      'kafka.authentication',
      `The brokers refused membrane's TLS client certificate (${message}).`,
      {
        cause: error,
        hint:
          connection.ssl === true ||
          (typeof connection.ssl === 'object' && connection.ssl.cert === undefined)
            ? 'the brokers want a client certificate: set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE'
            : 'set KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE to a certificate the brokers trust',
      },
    );
  if (
    connection.ssl !== undefined &&
    /before secure TLS connection was established|wrong version number|packet length too long|unknown protocol/i.test(
      message,
    )
  )
    return config(
      'kafka.tls-mismatch',
      `The broker at ${brokers} does not speak TLS on that port (KAFKA_SSL is on): ${message}.`,
      "set KAFKA_SSL=false, or list the brokers' TLS listener in KAFKA_BROKERS",
    );
  if (
    types.includes('ILLEGAL_SASL_STATE') ||
    types.includes('UNSUPPORTED_SASL_MECHANISM') ||
    /mechanism is not supported by the server/.test(message)
  )
    return config(
      'kafka.sasl-mechanism',
      connection.sasl === undefined
        ? `The brokers at ${brokers} want SASL, which membrane was not told to use (${message}).`
        : `The brokers at ${brokers} do not accept KAFKA_SASL_MECHANISM=${connection.sasl.mechanism} on that listener (${message}).`,
      'set KAFKA_SASL_MECHANISM to a mechanism the listener in KAFKA_BROKERS has enabled (or unset it for a listener without SASL)',
    );
  if (
    names.includes('KafkaJSSASLAuthenticationError') ||
    types.includes('SASL_AUTHENTICATION_FAILED')
  )
    return new MembraneError(
      'kafka.authentication',
      `The brokers at ${brokers} refused membrane's SASL credentials (${message}).`,
      {
        cause: error,
        hint:
          connection.sasl?.mechanism === 'oauthbearer'
            ? 'check KAFKA_SASL_OAUTH_CLIENT_ID, KAFKA_SASL_OAUTH_CLIENT_SECRET, KAFKA_SASL_OAUTH_SCOPE and KAFKA_SASL_OAUTH_EXTENSIONS'
            : 'check KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (and KAFKA_SASL_MECHANISM: SCRAM users are per hash)',
      },
    );
  if (types.some((t) => t.endsWith('_AUTHORIZATION_FAILED')))
    return new MembraneError(
      'kafka.authorization',
      `The brokers at ${brokers} refused membrane access (${types.find((t) => t.endsWith('_AUTHORIZATION_FAILED')) ?? ''}).`,
      { cause: error, hint: "grant membrane's principal the ACLs the README lists" },
    );
  // A listener that takes the TCP connection and closes it at the first request: it wants
  // TLS (a plaintext client) or SASL first.
  if (
    names.includes('KafkaJSConnectionClosedError') ||
    /Closed connection|closed by the server/i.test(message)
  ) {
    if (connection.ssl === undefined)
      return config(
        'kafka.tls-mismatch',
        `The broker at ${brokers} closed the connection at membrane's first request: it expects TLS${connection.sasl === undefined ? ' or SASL' : ''} on that port (KAFKA_SSL is off).`,
        connection.sasl === undefined
          ? 'set KAFKA_SSL=true for a TLS listener (and KAFKA_SASL_MECHANISM for a SASL one)'
          : 'set KAFKA_SSL=true for a TLS listener',
      );
    if (connection.sasl === undefined)
      return config(
        'kafka.sasl-mechanism',
        `The broker at ${brokers} closed the connection at membrane's first request: it expects SASL on that port.`,
        'set KAFKA_SASL_MECHANISM (with its credentials) to what that listener expects',
      );
  }
  return undefined;
}

/** The last error's words for the unreachable sentence, without kafkajs's prefix. */
function lastWords(error: unknown): string {
  return messageOf(error).replace(/^Connection error: /, '');
}

export interface ReachOptions {
  /** Called between attempts with what went wrong (debug logs). */
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

/**
 * The first connection of a command: asks the cluster for its metadata through a quiet
 * client (no kafkajs logs, no kafkajs retries) until it answers or KAFKA_CONNECT_TIMEOUT_MS
 * passes. A fault retrying cannot fix (TLS, SASL, credentials, ACLs) ends it at once; a
 * cluster that does not answer in time ends it with `kafka.unreachable` naming KAFKA_BROKERS.
 */
export async function reachKafka(
  connection: KafkaConnection,
  options: ReachOptions = {},
): Promise<ClusterInfo> {
  const deadline = Date.now() + connection.connectTimeoutMs;
  let attempt = 0;
  let last: unknown;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    attempt++;
    const timeout = Math.max(100, Math.min(left, 10_000));
    const admin = createKafka({
      ...clientOptions(connection),
      connectionTimeout: timeout,
      requestTimeout: Math.max(timeout, 1_000),
      retry: { retries: 0 },
      // kafkajs's `authenticationTimeout` defaults to 10 s: bounded by what is left too.
      authenticationTimeout: timeout,
    }).admin();
    try {
      await admin.connect();
      return await admin.describeCluster();
    } catch (error) {
      const fault = connectionFault(error, connection);
      if (fault !== undefined && !(fault.code === 'kafka.oauth-unreachable')) throw fault;
      last = error;
      options.onRetry?.(error, attempt);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    // 100 ms, doubling up to 2 s, within the deadline.
    const pause = Math.min(2_000, 100 * 2 ** Math.min(attempt - 1, 5), deadline - Date.now());
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  if (isMembraneError(last)) throw last;
  const ownFault = chain(last).find(isMembraneError);
  if (ownFault !== undefined) throw ownFault;
  throw new MembraneError(
    'kafka.unreachable',
    `No Kafka broker in KAFKA_BROKERS=${connection.brokers.join(',')} answered within ${connection.connectTimeoutMs} ms (KAFKA_CONNECT_TIMEOUT_MS)${last === undefined ? '' : `: ${lastWords(last)}`}.`,
    {
      retriable: true,
      cause: last,
      hint: 'check KAFKA_BROKERS and that the brokers run and are reachable from this machine',
    },
  );
}
