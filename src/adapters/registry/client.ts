import { Agent } from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { messageOf } from '../../core/errors.js';
import { redactError, redactUrl, redactUrlsIn, splitCredentials } from '../../core/redact.js';
import { registryFetch } from './connection.js';

export interface RegistryOptions {
  /**
   * Base URL of a Confluent-compatible API, e.g. `http://host:8080/apis/ccompat/v7`. May carry
   * `user:password@`, sent as Basic auth and never shown (explicit `username` wins).
   */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
  /** `Authorization: Bearer …` instead of Basic (the config refuses both at once). */
  readonly bearerToken?: string;
  /** CA bundle and client certificate (PEM) for an https registry; see ./connection.ts. */
  readonly tls?: RegistryTls;
}

/** A mappersmith middleware, as the registry client's `middlewares` option types it. */
type RegistryMiddleware = NonNullable<
  NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]>['middlewares']
>[number];

export interface RegistryTls {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** The URL without credentials, and the credentials to send: explicit ones, else the URL's. */
function credentialsOf(options: RegistryOptions): {
  url: string;
  username?: string | undefined;
  password?: string | undefined;
} {
  const split = splitCredentials(options.url);
  return options.username === undefined
    ? split
    : { url: split.url, username: options.username, password: options.password };
}

/**
 * The @kafkajs/confluent-schema-registry client (tests and tools use it as the producer's
 * side). Its HTTP layer, mappersmith, takes an https agent (`agent`, bound as its HTTP
 * gateway's configuration) for TLS, and middlewares: a bearer token is one.
 */
export function createSchemaRegistry(options: RegistryOptions): SchemaRegistry {
  // The client's HTTP layer quotes its host in errors: it never sees the credentials.
  const { url, username, password } = credentialsOf(options);
  const auth =
    username === undefined || options.bearerToken !== undefined
      ? undefined
      : { username, password: password ?? '' };
  const token = options.bearerToken;
  const bearer: RegistryMiddleware = () => ({
    prepareRequest: (next) =>
      next().then((request) =>
        request.enhance({ headers: { authorization: `Bearer ${token ?? ''}` } }),
      ),
  });
  return new SchemaRegistry({
    host: url,
    ...(auth ? { auth } : {}),
    ...(options.tls ? { agent: new Agent({ keepAlive: true, ...options.tls }) } : {}),
    ...(token === undefined ? {} : { middlewares: [bearer] }),
  });
}

/** The Authorization header for the options: bearer, Basic, or none. */
export function authorizationOf(options: RegistryOptions): string | undefined {
  if (options.bearerToken !== undefined) return `Bearer ${options.bearerToken}`;
  const { username, password } = credentialsOf(options);
  return basicAuth({ username, password });
}

/** `Basic …` for a username (and password), undefined without a username. */
export function basicAuth(credentials: {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}): string | undefined {
  if (credentials.username === undefined) return undefined;
  const pair = `${credentials.username}:${credentials.password ?? ''}`;
  return `Basic ${Buffer.from(pair).toString('base64')}`;
}

/** fetch's message and its cause's (`fetch failed (connect ECONNREFUSED …)`), URLs redacted. */
export function describeFailure(error: unknown): string {
  const cause = error instanceof Error ? error.cause : undefined;
  const text = cause === undefined ? messageOf(error) : `${messageOf(error)} (${messageOf(cause)})`;
  // OpenSSL's messages span lines: one line, as every message membrane prints.
  return redactUrlsIn(text)
    .replace(/\s*[\r\n]+\s*/g, ' ')
    .trim();
}

/**
 * A 200 answer to GET /subjects that is not the API's JSON array of subject names (a proxy's
 * login page, a web UI, a JSON object): `notAnApi` is set, and `reachRegistry` stops at once.
 */
export class NotARegistryApiError extends Error {
  readonly notAnApi = true;
  constructor(
    message: string,
    readonly answered: string,
  ) {
    super(message);
    this.name = 'NotARegistryApiError';
  }
}

/**
 * Lists subjects through the Confluent API; throws when the registry does not answer it. The
 * error names the URL without credentials.
 */
export async function pingRegistry(
  target: string | RegistryOptions,
  timeoutMs = 3000,
): Promise<readonly string[]> {
  const options: RegistryOptions = typeof target === 'string' ? { url: target } : target;
  const { url } = credentialsOf(options);
  const base = url.replace(/\/+$/, '');
  const shown = `${redactUrl(base)}/subjects`;
  const authorization = authorizationOf(options);
  let response: Response;
  try {
    response = await registryFetch(options.tls)(`${base}/subjects`, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        accept: 'application/vnd.schemaregistry.v1+json, application/json',
        ...(authorization === undefined ? {} : { authorization }),
      },
    });
  } catch (error) {
    throw new Error(`GET ${shown} failed: ${describeFailure(error)}`, {
      cause: redactError(error),
    });
  }
  if (!response.ok)
    throw Object.assign(new Error(`GET ${shown} answered HTTP ${response.status}`), {
      status: response.status,
    });
  const type = response.headers.get('content-type') ?? 'no content type';
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new NotARegistryApiError(
      `GET ${shown} answered HTTP ${response.status} with ${type}, not JSON`,
      /html/i.test(type) || /^\s*</.test(text) ? 'an HTML page' : `${type}, not JSON`,
    );
  }
  if (!Array.isArray(body) || !body.every((subject) => typeof subject === 'string'))
    throw new NotARegistryApiError(
      `GET ${shown} answered HTTP ${response.status} with JSON that is not a list of subjects`,
      Array.isArray(body)
        ? 'a JSON array of other things than subject names'
        : `a JSON ${body === null ? 'null' : typeof body}`,
    );
  return body;
}
