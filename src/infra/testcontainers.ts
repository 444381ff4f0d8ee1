import { APICURIO } from './versions.js';

/** Images for hosts with a Docker engine; kept in step with docker-compose.yml. */
export const CONTAINER_IMAGES = {
  // Confluent Platform 7.9 ships Apache Kafka 3.9; @testcontainers/kafka speaks its env vars.
  kafka: 'confluentinc/cp-kafka:7.9.1',
  registry: `apicurio/apicurio-registry:${APICURIO.version}`,
} as const;

export interface StartedContainers {
  readonly brokers: readonly string[];
  readonly registryUrl: string;
  stop(): Promise<void>;
}

/** Whether a Docker (or compatible) engine answers; testcontainers' own discovery decides. */
export async function containerRuntimeAvailable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export async function startContainers(): Promise<StartedContainers> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const { KafkaContainer } = await import('@testcontainers/kafka');
  const [kafka, registry] = await Promise.all([
    new KafkaContainer(CONTAINER_IMAGES.kafka)
      .withKraft()
      .withEnvironment({ KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1' })
      .start(),
    new GenericContainer(CONTAINER_IMAGES.registry)
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forHttp(`${APICURIO.ccompatPath}/subjects`, 8080))
      .start(),
  ]);
  return {
    brokers: [`${kafka.getHost()}:${kafka.getMappedPort(9093)}`],
    registryUrl: `http://${registry.getHost()}:${registry.getMappedPort(8080)}${APICURIO.ccompatPath}`,
    async stop() {
      await Promise.all([kafka.stop(), registry.stop()]);
    },
  };
}
