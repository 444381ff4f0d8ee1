import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig, type SASLOptions } from 'kafkajs';
import { inject } from 'vitest';
import type { SecureListenerState } from '../../src/infra/secure.js';

/**
 * The SASL_SSL listener of the run's broker. Throws (the test fails, it is never skipped)
 * when the run's infrastructure has none, saying how to get one.
 */
export function secureListener(): SecureListenerState {
  const { secure } = inject('infra');
  if (!secure.available) throw new Error(`No SASL_SSL listener to test against: ${secure.reason}.`);
  return secure.listener;
}

const OLDER =
  'the local infrastructure was started by an older membrane; restart it: `npm run infra -- down && npm run infra -- up`, then `eval "$(npm run -s infra -- env)"` (for another cluster, set MEMBRANE_TEST_RESTRICTED_USERNAME/PASSWORD and MEMBRANE_TEST_OAUTH_PRINCIPAL)';

/** The listener's SCRAM user without ACLs; throws (the test fails) when it has none. */
export function restrictedUser(): { readonly username: string; readonly password: string } {
  const { restricted } = secureListener();
  if (!restricted) throw new Error(`The SASL_SSL listener has no user without ACLs: ${OLDER}.`);
  return restricted;
}

/** The OAUTHBEARER principal with all rights; throws (the test fails) when there is none. */
export function oauthPrincipal(): string {
  const { oauthPrincipal: principal } = secureListener();
  if (!principal) throw new Error(`The SASL_SSL listener has no OAUTHBEARER principal: ${OLDER}.`);
  return principal;
}

export interface SecureClientOptions {
  readonly mechanism?: SASLOptions['mechanism'];
  readonly password?: string;
  /** Trust the instance's CA (default) or only Node's default CAs. */
  readonly trustCa?: boolean;
  /** Present a client certificate: the instance's own (signed by its CA) or given PEMs. */
  readonly clientCert?: { readonly cert: string; readonly key: string };
  readonly clientId?: string;
}

/** A plain kafkajs client for the secured listener (no membrane code in between). */
export function secureKafka(options: SecureClientOptions = {}): Kafka {
  const listener = secureListener();
  const ssl: NonNullable<KafkaConfig['ssl']> =
    options.trustCa === false
      ? {}
      : { ca: [readFileSync(listener.caFile, 'utf8')], ...(options.clientCert ?? {}) };
  return new Kafka({
    clientId: options.clientId ?? 'membrane-secure-test',
    brokers: [...listener.brokers],
    ssl,
    sasl: {
      mechanism: options.mechanism ?? 'scram-sha-512',
      username: listener.username,
      password: options.password ?? listener.password,
    } as SASLOptions,
    connectionTimeout: 5000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
}

/**
 * The environment that points membrane at the secured listener with its own variables
 * (KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_*); `overrides` replace or (undefined) remove some.
 */
export function secureEnv(
  base: NodeJS.ProcessEnv,
  overrides: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  const listener = secureListener();
  const env: Record<string, string | undefined> = {
    ...base,
    KAFKA_BROKERS: listener.brokers.join(','),
    KAFKA_SSL: 'true',
    KAFKA_SSL_CA_FILE: listener.caFile,
    KAFKA_SASL_MECHANISM: 'scram-sha-512',
    KAFKA_SASL_USERNAME: listener.username,
    KAFKA_SASL_PASSWORD: listener.password,
    KAFKA_CONNECT_TIMEOUT_MS: '5000',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
}
