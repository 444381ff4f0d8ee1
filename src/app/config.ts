import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { MembraneError, messageOf } from '../core/errors.js';
import { REDACTED, redactUnparsed, redactUrlsIn } from '../core/redact.js';

const hostPort = z
  .string()
  .regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9092')
  .refine((text) => {
    const port = Number(text.slice(text.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'has a port outside 1-65535');

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

/** A PEM file named by a variable: its path (for messages) and its bytes, read once. */
export interface PemFile {
  readonly path: string;
  readonly pem: Buffer;
}

/**
 * A `*_FILE` value that is the PEM itself (or a line of one), not a path: a Kubernetes secret
 * mapped to an environment variable instead of a file. Never echoed: for a key it is the key.
 */
export function holdsPem(value: string): boolean {
  return value.includes('-----BEGIN') || /[\r\n]/.test(value);
}

/**
 * What of a `*_FILE` value a message may show: nothing when it holds PEM contents or line
 * breaks; for a private key (`*_KEY_FILE`), also nothing when it looks like a key's base64
 * rather than a path.
 */
function showsFileValue(name: string, value: string): boolean {
  if (holdsPem(value) || value.includes('-----')) return false;
  return !(name.endsWith('_KEY_FILE') && /[A-Za-z0-9+/=]{64,}/.test(value));
}

/** A file path whose content must be PEM (a CA bundle, a certificate or a key). */
const pemFile = z.string().transform((path, ctx): PemFile => {
  if (holdsPem(path)) {
    ctx.issues.push({
      code: 'custom',
      message: 'holds PEM contents, not a path: give the path of a file holding them',
      input: '',
    });
    return z.NEVER;
  }
  let pem: Buffer;
  try {
    pem = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    ctx.issues.push({
      code: 'custom',
      message:
        code === 'ENOENT'
          ? 'names no file'
          : code === 'EACCES'
            ? 'names a file membrane may not read'
            : code === 'EISDIR'
              ? 'names a folder, not a file'
              : `names a file that cannot be read (${code ?? messageOf(error)})`,
      input: path,
    });
    return z.NEVER;
  }
  if (!pem.includes('-----BEGIN ')) {
    ctx.issues.push({
      code: 'custom',
      message: 'is not a PEM file (no -----BEGIN line)',
      input: path,
    });
    return z.NEVER;
  }
  return { path, pem };
});

const flag = z
  .string()
  .transform((v) => v.trim().toLowerCase())
  .pipe(z.enum(['true', 'false'], { error: 'must be true or false' }))
  .transform((v) => v === 'true');

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

/** `k=v,k=v` → `{ k: v }` (SASL/OAUTHBEARER extensions, e.g. Confluent Cloud's). */
const extensions = z.string().transform((text, ctx): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const at = item.indexOf('=');
    const key = at > 0 ? item.slice(0, at).trim() : '';
    // RFC 7628: keys are letters; "auth" is reserved for the token.
    if (!/^[A-Za-z]+$/.test(key) || key === 'auth') {
      ctx.issues.push({
        code: 'custom',
        message:
          'must be key=value pairs separated by commas, keys letters only (e.g. logicalCluster=lkc-abc12,identityPoolId=pool-XyZ)',
        input: text,
      });
      return z.NEVER;
    }
    Object.defineProperty(out, key, {
      value: item.slice(at + 1).trim(),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
});

/**
 * An http(s) URL fetch can use as it is: fetch refuses a URL with `user:password@`, and a
 * `#fragment` is never sent (most often the rest of a secret with a `#` in it).
 */
const httpUrl = z.string().transform((text, ctx) => {
  const refuse = (message: string): never => {
    ctx.issues.push({ code: 'custom', message, input: '' });
    return z.NEVER;
  };
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    return refuse('is not an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    return refuse('is not an http:// or https:// URL');
  if (url.username !== '' || url.password !== '')
    return refuse(
      'has credentials (user:password@) in it: give the client ID and secret in KAFKA_SASL_OAUTH_CLIENT_ID and KAFKA_SASL_OAUTH_CLIENT_SECRET',
    );
  if (url.hash !== '' || text.includes('#'))
    return refuse('has a #fragment, which is never sent: remove it');
  return url.href;
});

/**
 * Every variable that says how to reach and authenticate to Kafka and the registry. Every
 * command that talks to either reads these (see {@link checkConnection} for the rules that
 * span variables).
 */
const connectionFields = {
  KAFKA_BROKERS: z
    .string({ error: 'is not set; give a comma-separated list of host:port' })
    .transform((value) =>
      value
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
    )
    .pipe(z.array(hostPort).min(1, 'needs at least one host:port')),
  KAFKA_CLIENT_ID: z.string().min(1).default('membrane'),
  // Unset: TLS when any KAFKA_SSL_* file is set, plaintext otherwise.
  KAFKA_SSL: flag.optional(),
  KAFKA_SSL_CA_FILE: pemFile.optional(),
  KAFKA_SSL_CERT_FILE: pemFile.optional(),
  KAFKA_SSL_KEY_FILE: pemFile.optional(),
  KAFKA_SSL_KEY_PASSWORD: z.string().optional(),
  KAFKA_SSL_CHECK_HOSTNAME: flag.default(true),
  KAFKA_SASL_MECHANISM: z
    .string()
    .transform((v) => v.trim().toLowerCase())
    .pipe(z.enum(SASL_MECHANISMS, { error: `must be one of ${SASL_MECHANISMS.join(', ')}` }))
    .optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_SASL_OAUTH_TOKEN_URL: httpUrl.optional(),
  KAFKA_SASL_OAUTH_CLIENT_ID: z.string().min(1).optional(),
  KAFKA_SASL_OAUTH_CLIENT_SECRET: z.string().min(1).optional(),
  KAFKA_SASL_OAUTH_SCOPE: z.string().min(1).optional(),
  KAFKA_SASL_OAUTH_EXTENSIONS: extensions.optional(),
  // The CA(s) that signed an https:// token endpoint's certificate (a private CA); replaces
  // the system's CAs for the token requests only.
  KAFKA_SASL_OAUTH_CA_FILE: pemFile.optional(),
  // How long a command keeps trying to reach the brokers before it gives up with one sentence.
  KAFKA_CONNECT_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  SCHEMA_REGISTRY_URL: registryUrl,
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  SCHEMA_REGISTRY_BEARER_TOKEN: z.string().min(1).optional(),
  SCHEMA_REGISTRY_CA_FILE: pemFile.optional(),
  SCHEMA_REGISTRY_CERT_FILE: pemFile.optional(),
  SCHEMA_REGISTRY_KEY_FILE: pemFile.optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

type ConnectionFields = z.output<z.ZodObject<typeof connectionFields>>;

/** What openssl says of a key or certificate, without the library's prefixes. */
function opensslReason(error: unknown): string {
  const text = messageOf(error);
  if (/bad decrypt|bad password|interrupted or cancelled/i.test(text)) return 'wrong password';
  if (/passphrase required/i.test(text)) return 'the key is encrypted';
  if (/key values mismatch/i.test(text)) return 'the key does not belong to the certificate';
  return text.replace(/^error:[0-9A-F]+:[^:]*:[^:]*:/i, '');
}

/** Certificate and key of one client: each parses, the key is the certificate's. */
function checkClientPair(
  ctx: z.RefinementCtx,
  names: { cert: string; key: string; password?: string },
  cert: PemFile | undefined,
  key: PemFile | undefined,
  password: string | undefined,
): void {
  const issue = (name: string, message: string): void => {
    ctx.addIssue({ code: 'custom', path: [name], message });
  };
  if ((cert === undefined) !== (key === undefined)) {
    if (cert === undefined) issue(names.cert, `is not set; ${names.key} needs its certificate`);
    else issue(names.key, `is not set; ${names.cert} needs its private key`);
    return;
  }
  if (cert === undefined || key === undefined) return;
  let ok = true;
  try {
    new X509Certificate(cert.pem);
  } catch (error) {
    issue(names.cert, `does not hold a certificate: ${opensslReason(error)}`);
    ok = false;
  }
  if (password === undefined && key.pem.includes('ENCRYPTED')) {
    issue(
      names.key,
      names.password === undefined
        ? 'is encrypted; give the key unencrypted'
        : `is encrypted; set ${names.password}`,
    );
    return;
  }
  try {
    createPrivateKey(password === undefined ? key.pem : { key: key.pem, passphrase: password });
  } catch (error) {
    const reason = opensslReason(error);
    if (reason === 'wrong password' && names.password !== undefined)
      issue(names.password, 'does not decrypt the key');
    else if (reason === 'the key is encrypted' && names.password !== undefined)
      issue(names.key, `is encrypted; set ${names.password}`);
    else issue(names.key, `does not hold a private key: ${reason}`);
    ok = false;
  }
  if (!ok) return;
  try {
    createSecureContext({
      cert: cert.pem,
      key: key.pem,
      ...(password === undefined ? {} : { passphrase: password }),
    });
  } catch (error) {
    issue(names.key, `does not fit ${names.cert}: ${opensslReason(error)}`);
  }
}

function checkCa(ctx: z.RefinementCtx, name: string, file: PemFile | undefined): void {
  if (file === undefined) return;
  try {
    // The first certificate parses (createSecureContext alone skips what is not one), and
    // OpenSSL takes the bundle.
    new X509Certificate(file.pem);
    createSecureContext({ ca: file.pem });
  } catch (error) {
    ctx.addIssue({
      code: 'custom',
      path: [name],
      message: `does not hold certificates: ${opensslReason(error)}`,
    });
  }
}

/** The rules between connection variables: all reported at once, with the per-field ones. */
function checkConnection(config: ConnectionFields, ctx: z.RefinementCtx): void {
  const issue = (name: string, message: string): void => {
    ctx.addIssue({ code: 'custom', path: [name], message });
  };
  const sslFiles = (
    ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_CERT_FILE', 'KAFKA_SSL_KEY_FILE'] as const
  ).filter((name) => config[name] !== undefined);
  if (config.KAFKA_SSL === false && sslFiles.length > 0)
    issue(
      'KAFKA_SSL',
      `is false, but ${sslFiles.join(' and ')} ask for TLS; remove one or the other`,
    );
  checkCa(ctx, 'KAFKA_SSL_CA_FILE', config.KAFKA_SSL_CA_FILE);
  checkClientPair(
    ctx,
    { cert: 'KAFKA_SSL_CERT_FILE', key: 'KAFKA_SSL_KEY_FILE', password: 'KAFKA_SSL_KEY_PASSWORD' },
    config.KAFKA_SSL_CERT_FILE,
    config.KAFKA_SSL_KEY_FILE,
    config.KAFKA_SSL_KEY_PASSWORD,
  );

  const mechanism = config.KAFKA_SASL_MECHANISM;
  const oauthNames = [
    'KAFKA_SASL_OAUTH_TOKEN_URL',
    'KAFKA_SASL_OAUTH_CLIENT_ID',
    'KAFKA_SASL_OAUTH_CLIENT_SECRET',
  ] as const;
  const optionalOauth = [
    'KAFKA_SASL_OAUTH_SCOPE',
    'KAFKA_SASL_OAUTH_EXTENSIONS',
    'KAFKA_SASL_OAUTH_CA_FILE',
  ] as const;
  checkCa(ctx, 'KAFKA_SASL_OAUTH_CA_FILE', config.KAFKA_SASL_OAUTH_CA_FILE);
  if (
    config.KAFKA_SASL_OAUTH_CA_FILE !== undefined &&
    config.KAFKA_SASL_OAUTH_TOKEN_URL?.startsWith('http://') === true
  )
    issue(
      'KAFKA_SASL_OAUTH_CA_FILE',
      'is set but KAFKA_SASL_OAUTH_TOKEN_URL is http://, which uses no certificate; give its https:// URL or remove the CA file',
    );
  const userNames = ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const;
  if (mechanism === undefined) {
    for (const name of [...userNames, ...oauthNames, ...optionalOauth])
      if (config[name] !== undefined)
        issue(name, 'is set but KAFKA_SASL_MECHANISM is not; set the mechanism the brokers expect');
  } else if (mechanism === 'oauthbearer') {
    for (const name of oauthNames)
      if (config[name] === undefined)
        issue(name, 'is not set; KAFKA_SASL_MECHANISM=oauthbearer needs it');
    for (const name of userNames)
      if (config[name] !== undefined)
        issue(name, 'is set but KAFKA_SASL_MECHANISM=oauthbearer does not use it; remove it');
  } else {
    for (const name of userNames)
      if (config[name] === undefined)
        issue(name, `is not set; KAFKA_SASL_MECHANISM=${mechanism} needs it`);
    for (const name of [...oauthNames, ...optionalOauth])
      if (config[name] !== undefined)
        issue(name, `is set but KAFKA_SASL_MECHANISM=${mechanism} does not use it; remove it`);
  }

  const basic =
    config.SCHEMA_REGISTRY_USERNAME !== undefined || config.SCHEMA_REGISTRY_PASSWORD !== undefined;
  const inUrl = /^[a-z]+:\/\/[^/]*@/i.test(config.SCHEMA_REGISTRY_URL);
  if (config.SCHEMA_REGISTRY_BEARER_TOKEN !== undefined && (basic || inUrl))
    issue(
      'SCHEMA_REGISTRY_BEARER_TOKEN',
      `is set with ${basic ? 'SCHEMA_REGISTRY_USERNAME/SCHEMA_REGISTRY_PASSWORD' : 'credentials in SCHEMA_REGISTRY_URL'}; give a bearer token or basic auth, not both`,
    );
  if (
    config.SCHEMA_REGISTRY_PASSWORD !== undefined &&
    config.SCHEMA_REGISTRY_USERNAME === undefined
  )
    issue('SCHEMA_REGISTRY_USERNAME', 'is not set; SCHEMA_REGISTRY_PASSWORD needs it');
  const registryFiles = (
    ['SCHEMA_REGISTRY_CA_FILE', 'SCHEMA_REGISTRY_CERT_FILE', 'SCHEMA_REGISTRY_KEY_FILE'] as const
  ).filter((name) => config[name] !== undefined);
  if (registryFiles.length > 0 && !config.SCHEMA_REGISTRY_URL.startsWith('https:'))
    issue(
      'SCHEMA_REGISTRY_URL',
      `is not https://, but ${registryFiles.join(' and ')} ask for TLS; use the registry's https:// URL`,
    );
  checkCa(ctx, 'SCHEMA_REGISTRY_CA_FILE', config.SCHEMA_REGISTRY_CA_FILE);
  checkClientPair(
    ctx,
    { cert: 'SCHEMA_REGISTRY_CERT_FILE', key: 'SCHEMA_REGISTRY_KEY_FILE' },
    config.SCHEMA_REGISTRY_CERT_FILE,
    config.SCHEMA_REGISTRY_KEY_FILE,
    undefined,
  );
}

/** Where the cluster and the registry are and how to authenticate. `membrane run` extends this. */
export const connectionEnvSchema = z.object(connectionFields).superRefine(checkConnection);

export type ConnectionConfig = z.output<typeof connectionEnvSchema>;

const nameOf = (issue: z.core.$ZodIssue): string => String(issue.path[0] ?? '?');

function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const issues = [...result.error.issues];
  // zod checks the rules between variables only once every variable parsed: check them
  // again without the variables already refused, so that one error names every problem.
  // What follows from a refused variable (it reads as unset now) is not reported twice.
  const failed = new Set(issues.map(nameOf));
  const rest = schema.safeParse(
    Object.fromEntries(Object.entries(env).filter(([name]) => !failed.has(name))),
  );
  if (!rest.success)
    for (const issue of rest.error.issues)
      if (!failed.has(nameOf(issue)) && ![...failed].some((name) => issue.message.includes(name)))
        issues.push(issue);
  const problems = issues.map((issue) => {
    const name = nameOf(issue);
    const value = env[name];
    const secret =
      /PASSWORD|SECRET|TOKEN$/.test(name) ||
      (name.endsWith('_FILE') && value !== undefined && !showsFileValue(name, value));
    // A URL may carry credentials (`https://user:password@…`): never shown. A URL that did not
    // parse may hide them anywhere before its last `@` (`https//user:pw@host`).
    const redact = name.endsWith('_URL') ? redactUnparsed : redactUrlsIn;
    // A fragment is most often the rest of a secret with a `#` in it.
    const shown =
      secret || value === undefined ? '' : `=${redact(value).replace(/#[^]*$/, `#${REDACTED}`)}`;
    return `${name}${shown} ${issue.message}`;
  });
  const unique = [...new Set(problems)];
  throw new MembraneError('config.invalid', `Invalid configuration: ${unique.join('; ')}.`, {
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
export const runEnvSchema = z
  .object({
    ...connectionFields,
    MEMBRANE_GROUP_ID: z.string().min(1).default('membrane'),
    MEMBRANE_MAPPINGS: z.string().min(1).default('mappings'),
    MEMBRANE_QUARANTINE_TOPIC: z.string().min(1).default('membrane.quarantine'),
    MEMBRANE_PROCESSING_GUARANTEE: z
      .enum(['exactly_once', 'at_least_once'])
      .default('exactly_once'),
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
    // What one fetched compressed batch may declare in records and decompress to; beyond, the
    // batch is quarantined whole, undecoded (trust.batch-refused).
    // 262,144 records at 256 bytes each (what one costs decoded) is the 64 MiB of the budget.
    MEMBRANE_MAX_BATCH_RECORDS: positiveInt(262_144),
    MEMBRANE_MAX_BATCH_BYTES: positiveInt(64 * 1024 * 1024),
    // 'record quarantined' log lines a second; the rest are summed up (read by the logger).
    MEMBRANE_QUARANTINE_LOG_PER_SECOND: z.coerce.number().int().min(0).default(10),
  })
  .superRefine(checkConnection);

export type RunConfig = z.output<typeof runEnvSchema>;

/** One error naming every variable that is wrong and why; never echoes a password. */
export function loadRunConfig(env: NodeJS.ProcessEnv = process.env): RunConfig {
  return parseEnv(runEnvSchema, env);
}
