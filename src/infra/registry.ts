import { join } from 'node:path';
import type { InfraPaths } from './paths.js';
import { LOOPBACK } from './ports.js';
import { startDetached } from './processes.js';
import { APICURIO } from './versions.js';

/** Marks the registry's JVM in `/proc`, so a reused PID is never mistaken for it. */
export const REGISTRY_MARKER = APICURIO.runner;

export function registryUrl(port: number): string {
  return `http://${LOOPBACK}:${port}${APICURIO.ccompatPath}`;
}

/**
 * Apicurio Registry with its default in-memory (H2) storage, listening on the loopback
 * interface. Deletion is enabled so tests and `membrane` tooling can clean up subjects.
 */
export function registryArgs(home: string, port: number): string[] {
  return [
    '-Xms64m',
    '-Xmx384m',
    '-XX:+ExitOnOutOfMemoryError',
    `-Dquarkus.http.host=${LOOPBACK}`,
    `-Dquarkus.http.port=${port}`,
    '-Dquarkus.log.console.color=false',
    '-Dapicurio.rest.deletion.artifact.enabled=true',
    '-Dapicurio.rest.deletion.artifact-version.enabled=true',
    '-Dapicurio.rest.deletion.group.enabled=true',
    '-jar',
    join(home, APICURIO.runner),
  ];
}

export function startRegistry(
  paths: InfraPaths,
  home: string,
  java: string,
  port: number,
): Promise<number> {
  return startDetached(java, registryArgs(home, port), {
    logFile: paths.registryLog,
    cwd: paths.run,
  });
}
