import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { messageOf } from '../../core/errors.js';
import { redactError, redactUrl, redactUrlsIn, splitCredentials } from '../../core/redact.js';

export interface RegistryOptions {
  /**
   * Base URL of a Confluent-compatible API, e.g. `http://host:8080/apis/ccompat/v7`. May carry
   * `user:password@`, sent as Basic auth and never shown (explicit `username` wins).
   */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
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

export function createSchemaRegistry(options: RegistryOptions): SchemaRegistry {
  // The client's HTTP layer quotes its host in errors: it never sees the credentials.
  const { url, username, password } = credentialsOf(options);
  const auth = username === undefined ? undefined : { username, password: password ?? '' };
  return new SchemaRegistry({ host: url, ...(auth ? { auth } : {}) });
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
  return redactUrlsIn(text);
}

/**
 * Lists subjects through the Confluent API; throws when the registry does not answer it. The
 * error names the URL without credentials.
 */
export async function pingRegistry(
  target: string | RegistryOptions,
  timeoutMs = 3000,
): Promise<readonly string[]> {
  const options = typeof target === 'string' ? { url: target } : target;
  const { url, ...credentials } = credentialsOf(options);
  const base = url.replace(/\/+$/, '');
  const shown = `${redactUrl(base)}/subjects`;
  const authorization = basicAuth(credentials);
  let response: Response;
  try {
    response = await fetch(`${base}/subjects`, {
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
  if (!response.ok) throw new Error(`GET ${shown} answered HTTP ${response.status}`);
  return (await response.json()) as string[];
}
