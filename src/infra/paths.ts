import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { APICURIO, kafkaRelease, type KafkaRelease } from './versions.js';

/** The folder holding package.json, whether we run from src/ (tsx) or dist/ (compiled). */
export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('membrane: cannot find package.json above ' + dir);
    dir = parent;
  }
}

export interface InfraPaths {
  /** Downloaded jars, shared by every infrastructure instance (git-ignored). */
  readonly cache: string;
  /** The Kafka release this instance runs (MEMBRANE_KAFKA_VERSION). */
  readonly kafka: KafkaRelease;
  readonly kafkaHome: string;
  readonly kafkaLibs: string;
  readonly registryHome: string;
  /** One running instance: its state file, configs, data and logs. */
  readonly run: string;
  readonly stateFile: string;
  readonly kafkaConfig: string;
  readonly kafkaLog4j: string;
  readonly kafkaData: string;
  /** The secured listener's certificates (a throwaway CA, the broker's and a client's). */
  readonly tls: string;
  readonly kafkaLog: string;
  readonly registryLog: string;
}

/**
 * MEMBRANE_CACHE_DIR moves the jar cache (default `.cache/` in the project);
 * MEMBRANE_INFRA_DIR moves the state of the running instance (default `.cache/infra`), so
 * two instances can run side by side.
 */
export function infraPaths(env: NodeJS.ProcessEnv = process.env): InfraPaths {
  const cache = resolve(env['MEMBRANE_CACHE_DIR'] ?? join(projectRoot(), '.cache'));
  const run = resolve(env['MEMBRANE_INFRA_DIR'] ?? join(cache, 'infra'));
  const kafka = kafkaRelease(env);
  const kafkaHome = join(cache, `kafka_${kafka.scala}-${kafka.version}`);
  return {
    cache,
    kafka,
    kafkaHome,
    kafkaLibs: join(kafkaHome, 'libs'),
    registryHome: join(cache, `apicurio-registry-${APICURIO.version}`),
    run,
    stateFile: join(run, 'state.json'),
    kafkaConfig: join(run, 'server.properties'),
    kafkaLog4j: join(run, kafka.logging === 'log4j2' ? 'log4j2.properties' : 'log4j.properties'),
    kafkaData: join(run, 'kafka-data'),
    tls: join(run, 'tls'),
    kafkaLog: join(run, 'logs', 'kafka.log'),
    registryLog: join(run, 'logs', 'registry.log'),
  };
}
