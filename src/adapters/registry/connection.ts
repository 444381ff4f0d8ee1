/**
 * How membrane reaches the schema registry, built once from the connection variables
 * (src/app/config.ts): the URL, Basic or bearer credentials, and TLS (a CA bundle, a client
 * certificate). Used by `membrane run` (mappings), `doctor`, `quarantine show` and `dev`.
 */
import { Agent, request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionConfig } from '../../app/config.js';
import { MembraneError, messageOf } from '../../core/errors.js';
import { redactUrl } from '../../core/redact.js';
import {
  describeFailure,
  NotARegistryApiError,
  pingRegistry,
  type RegistryOptions,
  type RegistryTls,
} from './client.js';

export type RegistryConnectionConfig = Pick<
  ConnectionConfig,
  | 'SCHEMA_REGISTRY_URL'
  | 'SCHEMA_REGISTRY_USERNAME'
  | 'SCHEMA_REGISTRY_PASSWORD'
  | 'SCHEMA_REGISTRY_BEARER_TOKEN'
  | 'SCHEMA_REGISTRY_CA_FILE'
  | 'SCHEMA_REGISTRY_CERT_FILE'
  | 'SCHEMA_REGISTRY_KEY_FILE'
>;

/** The registry client options every command uses. */
export function registryOptions(config: RegistryConnectionConfig): RegistryOptions {
  const tls: RegistryTls = {
    ...(config.SCHEMA_REGISTRY_CA_FILE ? { ca: config.SCHEMA_REGISTRY_CA_FILE.pem } : {}),
    ...(config.SCHEMA_REGISTRY_CERT_FILE ? { cert: config.SCHEMA_REGISTRY_CERT_FILE.pem } : {}),
    ...(config.SCHEMA_REGISTRY_KEY_FILE ? { key: config.SCHEMA_REGISTRY_KEY_FILE.pem } : {}),
  };
  return {
    url: config.SCHEMA_REGISTRY_URL,
    ...(config.SCHEMA_REGISTRY_USERNAME === undefined
      ? {}
      : { username: config.SCHEMA_REGISTRY_USERNAME }),
    ...(config.SCHEMA_REGISTRY_PASSWORD === undefined
      ? {}
      : { password: config.SCHEMA_REGISTRY_PASSWORD }),
    ...(config.SCHEMA_REGISTRY_BEARER_TOKEN === undefined
      ? {}
      : { bearerToken: config.SCHEMA_REGISTRY_BEARER_TOKEN }),
    ...(Object.keys(tls).length === 0 ? {} : { tls }),
  };
}

/** An https agent for the TLS settings (for @kafkajs/confluent-schema-registry's `agent`). */
export function registryAgent(tls: RegistryTls): Agent {
  return new Agent({ keepAlive: true, ...tls });
}

/**
 * `fetch`, or for TLS settings Node's fetch cannot take (a CA bundle, a client certificate:
 * Node 20's fetch has no agent option without the undici package) the same over node:https
 * with an agent holding them. Only what membrane's registry calls use: method, headers, a
 * string body, an abort signal; the answer is a standard Response.
 */
export function registryFetch(tls: RegistryTls | undefined): typeof fetch {
  if (tls === undefined) return fetch;
  const agent = registryAgent(tls);
  const tlsFetch: typeof fetch = (
    input: string | URL | Request,
    init: RequestInit = {},
  ): Promise<Response> =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      const signal = init.signal ?? undefined;
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const headers = new Headers(init.headers);
      const body = typeof init.body === 'string' ? init.body : undefined;
      const req = httpsRequest(
        url,
        {
          method: init.method ?? 'GET',
          agent,
          headers: Object.fromEntries(headers.entries()),
          ...(signal ? { signal } : {}),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const answer = new Headers();
            for (const [name, value] of Object.entries(res.headers))
              if (value !== undefined)
                answer.set(name, Array.isArray(value) ? value.join(', ') : value);
            const status = res.statusCode ?? 502;
            const empty = status === 204 || status === 304;
            resolve(
              new Response(empty ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? '',
                headers: answer,
              }),
            );
          });
        },
      );
      // As fetch does: "fetch failed" with the socket's error as the cause.
      req.on('error', (error) => {
        reject(
          signal?.aborted
            ? (signal.reason as Error)
            : new TypeError('fetch failed', { cause: error }),
        );
      });
      req.end(body);
    });
  return tlsFetch;
}

const UNTRUSTED =
  /SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|CERT_UNTRUSTED|self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate/i;

function causeCode(error: unknown): string {
  let current: unknown = error;
  const parts: string[] = [];
  for (let i = 0; i < 5 && current !== null && typeof current === 'object'; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') parts.push(code);
    parts.push(messageOf(current));
    current = (current as { cause?: unknown }).cause;
  }
  return parts.join(' ');
}

/** OpenSSL's words for a TLS client that met something that does not speak TLS. */
const NOT_TLS =
  /WRONG_VERSION_NUMBER|wrong version number|packet length too long|unknown protocol|record layer failure|ssl3_get_record|HTTP_REQUEST/i;

/** A plaintext request that the other side closed or reset without an answer. */
const CLOSED = /UND_ERR_SOCKET|other side closed|ECONNRESET|socket hang up/i;

/**
 * Whether host:port of an http:// URL completes a TLS handshake (certificate not checked:
 * only the protocol is asked), within `timeoutMs`. Never throws.
 */
function speaksTls(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      resolve(false);
      return;
    }
    const socket = tlsConnect({
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: Number(parsed.port || 80),
      rejectUnauthorized: false,
      ...(/^[\d.]+$|:/.test(parsed.hostname) ? {} : { servername: parsed.hostname }),
    });
    const done = (answer: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => {
      done(false);
    }, timeoutMs);
    socket.once('secureConnect', () => {
      done(true);
    });
    socket.once('error', () => {
      done(false);
    });
  });
}

/**
 * The registry check of a command's start: lists subjects until the registry answers or
 * `timeoutMs` passes. A refusal of the credentials (`registry.unauthorized`) or of its TLS
 * certificate (`registry.tls-untrusted`) ends it at once; no answer in time is
 * `registry.unreachable` naming SCHEMA_REGISTRY_URL.
 */
export async function reachRegistry(
  options: RegistryOptions,
  timeoutMs: number,
): Promise<readonly string[]> {
  const deadline = Date.now() + timeoutMs;
  const shown = redactUrl(options.url);
  let attempt = 0;
  let last: unknown;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    attempt++;
    try {
      return await pingRegistry(options, Math.max(100, Math.min(left, 10_000)));
    } catch (error) {
      last = error;
      const status = (error as { status?: unknown }).status;
      if (status === 401 || status === 403)
        throw new MembraneError(
          'registry.unauthorized',
          `The schema registry at SCHEMA_REGISTRY_URL=${shown} refused membrane's credentials (HTTP ${status}).`,
          {
            hint:
              options.bearerToken !== undefined
                ? 'check SCHEMA_REGISTRY_BEARER_TOKEN'
                : options.username !== undefined
                  ? 'check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD'
                  : 'set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_BEARER_TOKEN',
          },
        );
      if (typeof status === 'number' && status >= 400 && status < 500)
        throw new MembraneError(
          'registry.not-an-api',
          `SCHEMA_REGISTRY_URL=${shown} is not a Confluent-compatible registry API (GET /subjects answered HTTP ${status}).`,
          {
            hint: "set SCHEMA_REGISTRY_URL to the API's base, e.g. Apicurio's …/apis/ccompat/v7",
          },
        );
      if (error instanceof NotARegistryApiError)
        throw new MembraneError(
          'registry.not-an-api',
          `SCHEMA_REGISTRY_URL=${shown} is not a Confluent-compatible registry API (GET /subjects answered ${error.answered}, not a list of subjects).`,
          {
            hint: "set SCHEMA_REGISTRY_URL to the registry API's base (not its web UI or a login page), e.g. http://host:8081 or Apicurio's …/apis/ccompat/v7",
          },
        );
      const words = causeCode(error);
      const https = options.url.startsWith('https:');
      if (
        (https && NOT_TLS.test(words)) ||
        (!https &&
          CLOSED.test(words) &&
          (await speaksTls(options.url, Math.max(100, Math.min(2_000, deadline - Date.now())))))
      )
        throw new MembraneError(
          'registry.tls-mismatch',
          https
            ? `SCHEMA_REGISTRY_URL=${shown} is https://, but the registry answers there without TLS.`
            : `SCHEMA_REGISTRY_URL=${shown} is http://, but the registry answers there with TLS only.`,
          {
            hint: https
              ? "use the registry's http:// URL, or the port where it speaks TLS"
              : "use the registry's https:// URL (with SCHEMA_REGISTRY_CA_FILE when its CA is not a public one)",
          },
        );
      if (UNTRUSTED.test(words))
        throw new MembraneError(
          'registry.tls-untrusted',
          `The schema registry's TLS certificate at ${shown} is not signed by a CA membrane trusts (${describeFailure(error)}).`,
          {
            hint: "set SCHEMA_REGISTRY_CA_FILE to the PEM file of the CA that signed the registry's certificate",
          },
        );
      if (/ERR_TLS_CERT_ALTNAME_INVALID|CERT_HAS_EXPIRED/.test(words))
        throw new MembraneError(
          'registry.tls-untrusted',
          `The schema registry's TLS certificate at ${shown} is not valid for it (${describeFailure(error)}).`,
          { hint: 'check SCHEMA_REGISTRY_URL names the host its certificate is for' },
        );
    }
    const pause = Math.min(2_000, 100 * 2 ** Math.min(attempt - 1, 5), deadline - Date.now());
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  throw new MembraneError(
    'registry.unreachable',
    `The schema registry at SCHEMA_REGISTRY_URL=${shown} did not answer within ${timeoutMs} ms${last === undefined ? '' : ` (${messageOf(last).replace(/\s*[\r\n]+\s*/g, ' ')})`}.`,
    {
      retriable: true,
      cause: last,
      hint: 'check SCHEMA_REGISTRY_URL and that the registry runs and is reachable from this machine',
    },
  );
}
