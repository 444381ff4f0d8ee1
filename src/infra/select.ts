import { warmUpCoordinators } from '../adapters/kafka/client.js';
import { InfraError } from './errors.js';
import { localDown, localUp } from './local.js';
import type { Progress } from './progress.js';
import type { SecureListenerState } from './secure.js';
import { containerRuntimeAvailable, startContainers } from './testcontainers.js';

export type InfraSource = 'env' | 'testcontainers' | 'local';

/** A Kafka cluster and a Confluent-compatible registry to talk to, wherever they come from. */
export interface Infrastructure {
  readonly source: InfraSource;
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  /** The SASL_SSL listener, when this infrastructure is the local one and has it. */
  readonly secure?: SecureListenerState;
  /** Whether `release` stops something this call started. */
  readonly owned: boolean;
  release(): Promise<void>;
}

const SOURCES = ['env', 'testcontainers', 'local'] as const;

/**
 * The one place that decides where Kafka and the registry come from:
 * 1. KAFKA_BROKERS and SCHEMA_REGISTRY_URL, when set, name an existing cluster;
 * 2. otherwise containers, when a Docker engine answers;
 * 3. otherwise the local JVM processes of `membrane infra` (reused when already up).
 * MEMBRANE_INFRA=env|testcontainers|local forces one of them.
 */
export async function acquireInfrastructure(options: {
  readonly env?: NodeJS.ProcessEnv;
  readonly progress: Progress;
}): Promise<Infrastructure> {
  const env = options.env ?? process.env;
  const forced = env['MEMBRANE_INFRA'];
  if (forced !== undefined && forced !== '' && !(SOURCES as readonly string[]).includes(forced)) {
    throw new InfraError(
      'infra.config-invalid',
      `MEMBRANE_INFRA=${forced} is not one of ${SOURCES.join(', ')}.`,
      {
        hint: 'unset MEMBRANE_INFRA to let membrane choose',
      },
    );
  }
  const brokersVar = env['KAFKA_BROKERS'];
  const registryVar = env['SCHEMA_REGISTRY_URL'];
  if (
    forced === 'env' ||
    ((forced === undefined || forced === '') && (brokersVar || registryVar))
  ) {
    if (!brokersVar || !registryVar) {
      const missing = brokersVar ? 'SCHEMA_REGISTRY_URL' : 'KAFKA_BROKERS';
      throw new InfraError(
        'infra.config-invalid',
        `${missing} is not set, but ${brokersVar ? 'KAFKA_BROKERS' : 'SCHEMA_REGISTRY_URL'} is: an existing cluster needs both.`,
        { hint: `set ${missing} too, or unset both to let membrane start its own` },
      );
    }
    return {
      source: 'env',
      brokers: brokersVar
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
      registryUrl: registryVar.replace(/\/+$/, ''),
      owned: false,
      release: () => Promise.resolve(),
    };
  }
  if (forced === 'testcontainers' || (forced !== 'local' && (await containerRuntimeAvailable()))) {
    options.progress.say(
      'A container engine answers: starting Kafka and the registry with testcontainers.',
    );
    const containers = await startContainers();
    await warmUpCoordinators(containers.brokers);
    return {
      source: 'testcontainers',
      brokers: containers.brokers,
      registryUrl: containers.registryUrl,
      owned: true,
      release: () => containers.stop(),
    };
  }
  const { state, started } = await localUp({ env, progress: options.progress });
  return {
    source: 'local',
    brokers: state.kafka.brokers,
    registryUrl: state.registry.url,
    ...(state.kafka.secure ? { secure: state.kafka.secure } : {}),
    owned: started,
    release: async () => {
      if (started) await localDown(env);
    },
  };
}
