import { InfraError } from './errors.js';

/**
 * Pinned versions of the local development infrastructure. One place to bump them.
 *
 * Apicurio Registry 3.0.9 is the newest 3.x release on Maven Central that runs on Java 17
 * (3.3.x is compiled for Java 21). Its parent POM is not on Central, so Maven refuses to
 * resolve it; we fetch the `-all.tar.gz` by URL from Central and check the SHA-256 pinned here.
 */
/**
 * A Kafka release the local infrastructure can run. Kafka declares its logging backend
 * compile-only, so each release names the one that makes it log: reload4j behind slf4j 1 up to
 * 3.9, log4j 2 from 4.0 (still behind slf4j 1, which Kafka 4.1 declares).
 */
export interface KafkaRelease {
  readonly version: string;
  readonly scala: string;
  readonly logging: 'reload4j' | 'log4j2';
  /** Maven coordinates (group, artifact, version) of the logging backend. */
  readonly loggingJars: readonly (readonly [string, string, string])[];
}

export const KAFKA_RELEASES: Readonly<Record<string, KafkaRelease>> = {
  '3.9.1': {
    version: '3.9.1',
    scala: '2.13',
    logging: 'reload4j',
    loggingJars: [
      ['ch.qos.reload4j', 'reload4j', '1.2.26'],
      ['org.slf4j', 'slf4j-reload4j', '1.7.36'],
    ],
  },
  '4.1.2': {
    version: '4.1.2',
    scala: '2.13',
    logging: 'log4j2',
    loggingJars: [
      ['org.apache.logging.log4j', 'log4j-core', '2.24.3'],
      ['org.apache.logging.log4j', 'log4j-slf4j-impl', '2.24.3'],
    ],
  },
};

/** The default release (the one every test runs on); 4.1 for the compatibility subset. */
export const KAFKA = {
  ...(KAFKA_RELEASES['3.9.1'] as KafkaRelease),
  mavenDependencyPlugin: '3.8.1',
} as const;

/**
 * The release `MEMBRANE_KAFKA_VERSION` names (default 3.9.1). Only pinned releases: each
 * needs its own logging backend and settings, and tests prove membrane against them.
 */
export function kafkaRelease(env: NodeJS.ProcessEnv = process.env): KafkaRelease {
  const wanted = env['MEMBRANE_KAFKA_VERSION'];
  if (wanted === undefined || wanted === '') return KAFKA;
  const release = KAFKA_RELEASES[wanted];
  if (!release)
    throw new InfraError(
      'infra.config-invalid',
      `MEMBRANE_KAFKA_VERSION=${wanted} is not a Kafka release membrane's local infrastructure runs; use one of ${Object.keys(KAFKA_RELEASES).join(', ')}`,
    );
  return release;
}

export const APICURIO = {
  version: '3.0.9',
  path: 'io/apicurio/apicurio-registry-app/3.0.9/apicurio-registry-app-3.0.9-all.tar.gz',
  sha256: '2b28181501a20cbf6efcd77f9b7153908fc01f3d3a7c32024c0bd9e1b04c8a43',
  runner: 'apicurio-registry-app-3.0.9-runner.jar',
  /** Confluent-compatible API base path. */
  ccompatPath: '/apis/ccompat/v7',
} as const;

export const MAVEN_CENTRAL = 'https://repo.maven.apache.org/maven2';

/** Minimum Java feature version for Kafka 3.9 and Apicurio 3.0. */
export const MIN_JAVA = 17;
