import { z } from 'zod';
import { MembraneError } from '../core/errors.js';
import { redactUnparsed, redactUrlsIn } from '../core/redact.js';

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9092');

const REGISTRY_EXAMPLE = 'give the base of a Confluent-compatible API, e.g. http://host:8081';

/**
 * The registry's base URL as fetch will read it (the WHATWG parser: `https:/host` is
 * `https://host/`), without trailing slashes: http or https, and nothing after the host that
 * is not a path (membrane appends `/subjects`…). An `@` after the host is most often a password
 * with a `/`, `?` or `#` in it, which the parser cut short: refused, so that it is never taken
 * for a host and path.
 */
const registryUrl = z
  .string({ error: `is not set; ${REGISTRY_EXAMPLE}` })
  .transform((text, ctx) => {
    const refuse = (message: string): never => {
      ctx.issues.push({ code: 'custom', message, input: text });
      return z.NEVER;
    };
    let url: URL;
    try {
      url = new URL(text.trim());
    } catch {
      return refuse(`is not a URL; ${REGISTRY_EXAMPLE}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return refuse(`is not an http:// or https:// URL; ${REGISTRY_EXAMPLE}`);
    const href = url.href;
    url.username = '';
    url.password = '';
    const afterHost = url.href.slice(`${url.protocol}//${url.host}`.length);
    if (/[?#@]/.test(afterHost))
      return refuse(
        'has a ?, # or @ after its host: give the base of the API, without query or fragment (in a password, write / ? # @ as %2F %3F %23 %40)',
      );
    return href.replace(/\/+$/, '');
  });

/** Where the cluster and the registry are. Later settings of `membrane run` extend this. */
export const connectionEnvSchema = z.object({
  KAFKA_BROKERS: z
    .string({ error: 'is not set; give a comma-separated list of host:port' })
    .transform((value) =>
      value
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
    )
    .pipe(z.array(hostPort).min(1, 'needs at least one host:port')),
  SCHEMA_REGISTRY_URL: registryUrl,
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('membrane'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ConnectionConfig = z.output<typeof connectionEnvSchema>;

function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?');
    const secret = name.includes('PASSWORD') || name.includes('SECRET');
    const value = env[name];
    // A URL may carry credentials (`https://user:password@…`): never shown. A URL that did not
    // parse may hide them anywhere before its last `@` (`https//user:pw@host`).
    const redact = name.endsWith('_URL') ? redactUnparsed : redactUrlsIn;
    const shown = secret || value === undefined ? '' : `=${redact(value)}`;
    return `${name}${shown} ${issue.message}`;
  });
  throw new MembraneError('config.invalid', `Invalid configuration: ${problems.join('; ')}.`, {
    hint: 'fix the environment variables named above (see the README, "Configuration")',
  });
}

/** One error naming every variable that is wrong and why; never echoes a password. */
export function loadConnectionConfig(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  return parseEnv(connectionEnvSchema, env);
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/** `membrane run`: everything from the environment, validated at startup. */
export const runEnvSchema = connectionEnvSchema.extend({
  MEMBRANE_GROUP_ID: z.string().min(1).default('membrane'),
  MEMBRANE_MAPPINGS: z.string().min(1).default('mappings'),
  MEMBRANE_QUARANTINE_TOPIC: z.string().min(1).default('membrane.quarantine'),
  MEMBRANE_PROCESSING_GUARANTEE: z.enum(['exactly_once', 'at_least_once']).default('exactly_once'),
  MEMBRANE_COMMIT_MAX_RECORDS: positiveInt(5000),
  MEMBRANE_COMMIT_INTERVAL_MS: positiveInt(100),
  MEMBRANE_TASK_CONCURRENCY: positiveInt(16),
  MEMBRANE_FETCH_MIN_BYTES: positiveInt(64 * 1024),
  MEMBRANE_CREATE_TOPICS: bool.default(true),
  MEMBRANE_TOPIC_PARTITIONS: positiveInt(6),
  MEMBRANE_TOPIC_REPLICATION: z.coerce.number().int().min(-1).default(-1),
  MEMBRANE_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MEMBRANE_SHUTDOWN_TIMEOUT_MS: positiveInt(30_000),
  MEMBRANE_RETRY_MAX_MS: positiveInt(30_000),
  // /readyz turns false while a task has been failing (retrying) for longer than this.
  MEMBRANE_STALL_THRESHOLD_MS: positiveInt(60_000),
  // The broker refuses less than its group.min.session.timeout.ms (6 s by default).
  MEMBRANE_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).default(15_000),
  MEMBRANE_DEDUP_WINDOW: positiveInt(100_000),
  // One attempt at restoring a task's state gives up after this long; the next resumes.
  MEMBRANE_RESTORE_TIMEOUT_MS: positiveInt(300_000),
  // An aggregate's clock is forgotten (a tombstone in its changelog) this long after its
  // last change; 0 keeps clocks for ever. Default 7 days.
  MEMBRANE_STATE_RETENTION_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600 * 1000),
  // What one upstream record may carry in headers; beyond, it is quarantined before trust
  // (trust.too-many-headers / trust.headers-too-large).
  MEMBRANE_MAX_HEADERS: positiveInt(1000),
  MEMBRANE_MAX_HEADER_BYTES: positiveInt(256 * 1024),
  // Key and value of one upstream record, decompressed; beyond: trust.record-too-large.
  MEMBRANE_MAX_RECORD_BYTES: positiveInt(16 * 1024 * 1024),
  // 'record quarantined' log lines a second; the rest are summed up (read by the logger).
  MEMBRANE_QUARANTINE_LOG_PER_SECOND: z.coerce.number().int().min(0).default(10),
  KAFKA_SSL: bool.default(false),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
});

export type RunConfig = z.output<typeof runEnvSchema>;

/** One error naming every variable that is wrong and why; never echoes a password. */
export function loadRunConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  return parseEnv(runEnvSchema, env);
}
