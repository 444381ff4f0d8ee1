import type { TestProject } from 'vitest/node';
import { localStatus } from '../../src/infra/local.js';
import { createProgress } from '../../src/infra/progress.js';
import type { SecureListenerState } from '../../src/infra/secure.js';
import {
  acquireInfrastructure,
  type Infrastructure,
  type InfraSource,
} from '../../src/infra/select.js';

/** The broker's SASL_SSL listener, or why there is none (the secured tests fail with it). */
export type ProvidedSecure =
  | { readonly available: true; readonly listener: SecureListenerState }
  | { readonly available: false; readonly reason: string };

export interface ProvidedInfra {
  readonly source: InfraSource;
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  readonly secure: ProvidedSecure;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: ProvidedInfra;
  }
}

const SECURE_VARS = [
  'MEMBRANE_TEST_SECURE_BROKERS',
  'MEMBRANE_TEST_CA_FILE',
  'MEMBRANE_TEST_SCRAM_USERNAME',
  'MEMBRANE_TEST_SCRAM_PASSWORD',
] as const;

const RESTART =
  'restart the local infrastructure to get one: `npm run infra -- down && npm run infra -- up`, then `eval "$(npm run -s infra -- env)"`';

/**
 * Where the secured tests connect: the local instance's SASL_SSL listener, or, for a cluster
 * named by KAFKA_BROKERS, the MEMBRANE_TEST_* variables `npm run infra -- env` prints (or the
 * local instance's listener when KAFKA_BROKERS names the local instance).
 */
export async function findSecure(
  infra: Pick<Infrastructure, 'source' | 'brokers' | 'secure'>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProvidedSecure> {
  if (infra.secure) return { available: true, listener: infra.secure };
  if (infra.source === 'testcontainers')
    return {
      available: false,
      reason:
        'the Kafka container has no SASL_SSL listener; run the integration tests with MEMBRANE_INFRA=local (the local broker has one)',
    };
  if (infra.source === 'local')
    return {
      available: false,
      reason: `the running local infrastructure was started by an older membrane, without a SASL_SSL listener; ${RESTART}`,
    };
  const set = SECURE_VARS.filter((name) => env[name]);
  if (set.length > 0) {
    const missing = SECURE_VARS.filter((name) => !env[name]);
    if (missing.length > 0)
      return {
        available: false,
        reason: `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set, but ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'}: the secured tests need all of ${SECURE_VARS.join(', ')}`,
      };
    const brokers = (env['MEMBRANE_TEST_SECURE_BROKERS'] ?? '')
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    return {
      available: true,
      listener: {
        port: Number(brokers[0]?.split(':').pop()),
        brokers,
        mechanisms: (env['MEMBRANE_TEST_SCRAM_MECHANISMS'] ?? 'scram-sha-512,scram-sha-256')
          .split(',')
          .map((m) => m.trim().toLowerCase()),
        caFile: env['MEMBRANE_TEST_CA_FILE'] ?? '',
        clientCertFile: env['MEMBRANE_TEST_CLIENT_CERT_FILE'] ?? '',
        clientKeyFile: env['MEMBRANE_TEST_CLIENT_KEY_FILE'] ?? '',
        username: env['MEMBRANE_TEST_SCRAM_USERNAME'] ?? '',
        password: env['MEMBRANE_TEST_SCRAM_PASSWORD'] ?? '',
        ...(env['MEMBRANE_TEST_RESTRICTED_USERNAME'] && env['MEMBRANE_TEST_RESTRICTED_PASSWORD']
          ? {
              restricted: {
                username: env['MEMBRANE_TEST_RESTRICTED_USERNAME'],
                password: env['MEMBRANE_TEST_RESTRICTED_PASSWORD'],
              },
            }
          : {}),
        ...(env['MEMBRANE_TEST_OAUTH_PRINCIPAL']
          ? { oauthPrincipal: env['MEMBRANE_TEST_OAUTH_PRINCIPAL'] }
          : {}),
      },
    };
  }
  // KAFKA_BROKERS may name the local instance (set from `npm run infra -- env`): use its listener.
  const { state } = await localStatus(env);
  if (state && state.kafka.brokers.join(',') === infra.brokers.join(',')) {
    if (state.kafka.secure) return { available: true, listener: state.kafka.secure };
    return {
      available: false,
      reason: `KAFKA_BROKERS names the local infrastructure, which was started by an older membrane, without a SASL_SSL listener; ${RESTART}`,
    };
  }
  return {
    available: false,
    reason: `KAFKA_BROKERS names a cluster without a SASL_SSL listener the tests know of; set ${SECURE_VARS.join(', ')} (and MEMBRANE_TEST_SCRAM_MECHANISMS if not scram-sha-512,scram-sha-256) for its SASL_SSL listener (\`npm run infra -- env\` prints them for the local one), or unset KAFKA_BROKERS and SCHEMA_REGISTRY_URL to let the tests start their own`,
  };
}

/** Once per run: find or start a real broker and registry, hand their addresses to the tests. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const infra = await acquireInfrastructure({ progress: createProgress() });
  const secure = await findSecure(infra);
  process.stderr.write(
    `[integration] Kafka ${infra.brokers.join(',')} and registry ${infra.registryUrl} ` +
      `(${infra.source}${infra.owned ? ', started for this run' : ', reused'}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `${secure.available ? `SASL_SSL on ${secure.listener.brokers.join(',')}` : 'no SASL_SSL listener: the secured tests will fail'}\n`,
  );
  project.provide('infra', {
    source: infra.source,
    brokers: infra.brokers,
    registryUrl: infra.registryUrl,
    secure,
  });
  return async () => {
    await infra.release();
  };
}
