/**
 * Pinned versions of the local development infrastructure. One place to bump them.
 *
 * Apicurio Registry 3.0.9 is the newest 3.x release on Maven Central that runs on Java 17
 * (3.3.x is compiled for Java 21). Its parent POM is not on Central, so Maven refuses to
 * resolve it; we fetch the `-all.tar.gz` by URL from Central and check the SHA-256 pinned here.
 */
export const KAFKA = {
  version: '3.9.1',
  scala: '2.13',
  /** Kafka declares its logging backend compile-only; these make it log. */
  reload4j: '1.2.26',
  slf4jReload4j: '1.7.36',
  mavenDependencyPlugin: '3.8.1',
} as const;

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
