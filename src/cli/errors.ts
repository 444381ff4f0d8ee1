import { isMembraneError, MembraneError } from '../core/errors.js';

/**
 * membrane's exit codes (sysexits.h where one fits). Documented in the README, "Exit codes".
 * - 0: done;
 * - 1: another operational error (a mapping file, a topic missing, a command refused);
 * - 2: `quarantine replay` left records in the quarantine (set by that command);
 * - 69 (EX_UNAVAILABLE): the brokers, the registry or the OAuth token endpoint did not answer
 *   within KAFKA_CONNECT_TIMEOUT_MS;
 * - 70 (EX_SOFTWARE): a bug of membrane's;
 * - 77 (EX_NOPERM): authentication or authorization refused;
 * - 78 (EX_CONFIG): configuration: a variable, a TLS file, an untrusted certificate, a SASL
 *   mechanism or TLS setting the listener does not speak, a taken MEMBRANE_HTTP_PORT.
 */
export const EXIT = {
  ok: 0,
  failure: 1,
  replayLeftRecords: 2,
  unavailable: 69,
  bug: 70,
  permission: 77,
  config: 78,
} as const;

const BY_CODE: Readonly<Record<string, number>> = {
  'kafka.unreachable': EXIT.unavailable,
  'kafka.oauth-unreachable': EXIT.unavailable,
  'registry.unreachable': EXIT.unavailable,
  'registry.unavailable': EXIT.unavailable,
  'kafka.authentication': EXIT.permission,
  'kafka.authorization': EXIT.permission,
  'kafka.oauth-refused': EXIT.permission,
  'registry.unauthorized': EXIT.permission,
  'kafka.oauth-invalid': EXIT.config,
  'kafka.oauth-tls-untrusted': EXIT.config,
  'kafka.tls-untrusted': EXIT.config,
  'kafka.tls-expired': EXIT.config,
  'kafka.tls-hostname': EXIT.config,
  'kafka.tls-mismatch': EXIT.config,
  'kafka.sasl-mechanism': EXIT.config,
  'registry.tls-untrusted': EXIT.config,
  'registry.not-an-api': EXIT.config,
  'registry.tls-mismatch': EXIT.config,
  'http.port-in-use': EXIT.config,
  'http.port-denied': EXIT.config,
  'config.invalid': EXIT.config,
  'runtime.bug': EXIT.bug,
  'kafka.bug': EXIT.bug,
};

/** The exit code for a known error (see {@link EXIT}); 1 for one not listed. */
export function exitCodeOf(error: MembraneError): number {
  return BY_CODE[error.code] ?? EXIT.failure;
}

// ---------------------------------------------------------------------------------------
// Reading what a thrown value wraps

const MAX_LINKS = 32;

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object'
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

/**
 * Every error a thrown value wraps, outermost first: kafkajs nests them (`cause` of
 * KafkaJSNumberOfRetriesExceeded and KafkaJSNonRetriableError, `originalError`, the `errors`
 * of KafkaJSAggregateError and AggregateError, the per-group `error` of a
 * KafkaJSDeleteGroupsError), membrane's MembraneError keeps its `cause`.
 */
export function errorsIn(error: unknown): unknown[] {
  const out: unknown[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && out.length < MAX_LINKS) {
    const current = queue.shift();
    if (current === null || typeof current !== 'object' || out.includes(current)) continue;
    out.push(current);
    queue.push(field(current, 'cause'), field(current, 'originalError'));
    for (const key of ['errors', 'groups']) {
      const list = field(current, key);
      if (Array.isArray(list))
        for (const item of list.slice(0, MAX_LINKS))
          queue.push(key === 'groups' ? field(item, 'error') : item);
    }
  }
  return out;
}

/** The Kafka `*_AUTHORIZATION_FAILED` type anywhere in what `error` wraps. */
export function authorizationTypeIn(error: unknown): string | undefined {
  for (const link of errorsIn(error)) {
    const type = field(link, 'type');
    if (typeof type === 'string' && type.endsWith('_AUTHORIZATION_FAILED')) return type;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------
// ACL refusals, in the words of the ACL to grant

/** The resource an ACL is on, as `kafka-acls` and the README name them. */
export type AclResource = 'topic' | 'group' | 'transactional ID' | 'cluster';

/** An ACL a command needs: operations on one resource (a name, or a prefix). */
export interface AclNeed {
  readonly operations: readonly string[];
  readonly resource: AclResource;
  readonly name: string;
  /** A PREFIXED pattern: every resource whose name starts with `name`. */
  readonly prefixed?: boolean;
}

const RESOURCE_OF: Readonly<Record<string, AclResource>> = {
  TOPIC_AUTHORIZATION_FAILED: 'topic',
  GROUP_AUTHORIZATION_FAILED: 'group',
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: 'transactional ID',
  CLUSTER_AUTHORIZATION_FAILED: 'cluster',
};

/** `READ and DESCRIBE on topic q`, ``READ on groups prefixed `membrane-cli.` `` */
export function aclText(need: AclNeed): string {
  const operations = need.operations.join(' and ');
  if (need.resource === 'cluster') return `${operations} on the cluster`;
  return need.prefixed
    ? `${operations} on ${need.resource}s prefixed \`${need.name}\``
    : `${operations} on ${need.resource} ${need.name}`;
}

/** Who to grant: `User:<KAFKA_SASL_USERNAME>` when membrane logs in with one. */
export function principalText(env: NodeJS.ProcessEnv): string {
  const mechanism = env['KAFKA_SASL_MECHANISM']?.trim().toLowerCase();
  const user = env['KAFKA_SASL_USERNAME'];
  return mechanism !== undefined && mechanism !== 'oauthbearer' && user
    ? `the principal membrane connects as (User:${user})`
    : 'the principal membrane connects as';
}

/**
 * An ACL refusal anywhere in what `error` wraps, as one sentence saying which command was
 * refused what, and a hint naming the ACLs of that kind the command needs (`needs`): operation,
 * resource type and name. kafkajs never says which topic or group it was refused, so every
 * one of that kind the command uses is named. Anything else is returned as it is.
 */
export function aclRefusal(
  error: unknown,
  command: string,
  needs: readonly AclNeed[],
  env: NodeJS.ProcessEnv = process.env,
): unknown {
  const type = authorizationTypeIn(error);
  if (type === undefined) return error;
  const resource = RESOURCE_OF[type];
  const relevant = needs.filter((need) => need.resource === resource);
  const named = relevant.length > 0 ? relevant : needs;
  const what =
    resource === undefined || relevant.length === 0
      ? 'by the Kafka cluster'
      : resource === 'cluster'
        ? 'on the cluster'
        : `to use ${[...new Set(relevant.map((n) => (n.prefixed ? `${resource}s prefixed \`${n.name}\`` : `${resource} ${n.name}`)))].join(', ')}`;
  return new MembraneError(
    'kafka.authorization',
    `${command} is not authorised ${what} (${type}).`,
    {
      cause: error,
      hint: `allow ${principalText(env)} ${named.map(aclText).join('; ')}`,
    },
  );
}

/**
 * What the user is told about `error`: the error itself, unless what it wraps says more —
 * an error whose own code is only "failed" (1) or "a bug" (70) but that wraps a documented
 * fault (an ACL refusal: `kafka.authorization`; an OAuth token endpoint down: its own
 * MembraneError) is that fault. The authentication hint names the OAuth variables when
 * membrane logs in with OAUTHBEARER.
 */
export function explain(error: unknown, env: NodeJS.ProcessEnv = process.env): unknown {
  let chosen = error;
  const outer = isMembraneError(error) ? exitCodeOf(error) : EXIT.bug;
  if (outer === EXIT.failure || outer === EXIT.bug) {
    const links = errorsIn(error).slice(1);
    const inner = links.find(
      (link): link is MembraneError =>
        isMembraneError(link) && exitCodeOf(link) !== EXIT.failure && exitCodeOf(link) !== EXIT.bug,
    );
    const type = authorizationTypeIn(error);
    if (inner !== undefined) chosen = inner;
    else if (type !== undefined)
      chosen = new MembraneError(
        'kafka.authorization',
        isMembraneError(error)
          ? `${error.message.replace(/\.$/, '')} (${type}).`
          : `membrane was refused by the Kafka cluster's ACLs (${type}).`,
        {
          cause: error,
          hint: `grant ${principalText(env)} the ACLs the README lists for this command ("ACLs membrane needs")`,
        },
      );
  }
  if (
    isMembraneError(chosen) &&
    chosen.code === 'kafka.authentication' &&
    env['KAFKA_SASL_MECHANISM']?.trim().toLowerCase() === 'oauthbearer' &&
    !(chosen.hint ?? '').includes('KAFKA_SASL_OAUTH_')
  )
    chosen = new MembraneError(chosen.code, chosen.message, {
      cause: chosen,
      retriable: chosen.retriable,
      hint: 'check KAFKA_SASL_OAUTH_TOKEN_URL, KAFKA_SASL_OAUTH_CLIENT_ID, KAFKA_SASL_OAUTH_CLIENT_SECRET, KAFKA_SASL_OAUTH_SCOPE and KAFKA_SASL_OAUTH_EXTENSIONS: the brokers refused the token the identity provider issued',
    });
  return chosen;
}

/**
 * Turns a thrown value into what the user reads: one sentence and what to do for a known
 * error (see {@link explain}), the stack for a bug. Returns the exit code.
 */
export function reportError(
  thrown: unknown,
  stream: NodeJS.WriteStream = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): number {
  const error = explain(thrown, env);
  if (isMembraneError(error)) {
    stream.write(`membrane: ${error.message}\n`);
    if (error.hint) stream.write(`  What to do: ${error.hint}.\n`);
    return exitCodeOf(error);
  }
  stream.write(`membrane: unexpected error (a bug; please report it with this output):\n`);
  stream.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.bug;
}
