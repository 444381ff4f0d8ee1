import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { describeCluster, warmUpCoordinators } from '../adapters/kafka/client.js';
import { pingRegistry } from '../adapters/registry/client.js';
import { ensureKafkaJars, ensureRegistryDist } from './downloads.js';
import { InfraError } from './errors.js';
import { KAFKA_MAIN_CLASS, startKafka } from './kafka.js';
import { infraPaths, type InfraPaths } from './paths.js';
import { choosePort, LOOPBACK } from './ports.js';
import { isAlive, stopProcess, tail } from './processes.js';
import type { Progress } from './progress.js';
import { REGISTRY_MARKER, registryUrl, startRegistry } from './registry.js';
import {
  createSecureMaterial,
  describeSecureListener,
  OAUTH_PRINCIPAL,
  RESTRICTED_USERNAME,
  SCRAM_MECHANISMS,
  SECURE_LISTENER,
  type SecureListenerState,
} from './secure.js';
import { requireJava } from './tools.js';
import { APICURIO } from './versions.js';
import { waitFor } from './wait.js';

/** What `infra up` leaves in the state file for `status`, `down` and the test harness. */
export interface LocalInfraState {
  readonly kafka: {
    readonly version: string;
    readonly pid: number;
    readonly port: number;
    readonly controllerPort: number;
    readonly brokers: readonly string[];
    /** The SASL_SSL listener; absent in the state of an instance an older membrane started. */
    readonly secure?: SecureListenerState;
  };
  readonly registry: {
    readonly version: string;
    readonly pid: number;
    readonly port: number;
    readonly url: string;
  };
  readonly startedAt: string;
}

export interface ComponentStatus {
  readonly name: 'kafka' | 'registry';
  readonly address: string;
  readonly pid: number;
  readonly running: boolean;
  readonly healthy: boolean;
  readonly detail: string;
}

export interface LocalInfraStatus {
  readonly state: LocalInfraState | undefined;
  readonly components: readonly ComponentStatus[];
  readonly healthy: boolean;
}

export interface LocalInfraOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly progress: Progress;
  readonly readyTimeoutMs?: number;
}

async function readState(paths: InfraPaths): Promise<LocalInfraState | undefined> {
  if (!existsSync(paths.stateFile)) return undefined;
  try {
    return JSON.parse(await readFile(paths.stateFile, 'utf8')) as LocalInfraState;
  } catch {
    return undefined;
  }
}

/** Whether one component's process runs and whether it answers `probe`. */
async function componentStatus(
  name: ComponentStatus['name'],
  address: string,
  pid: number,
  marker: string,
  probe: () => Promise<string>,
): Promise<ComponentStatus> {
  const base = { name, address, pid };
  if (!isAlive(pid, marker))
    return { ...base, running: false, healthy: false, detail: 'not running' };
  try {
    return { ...base, running: true, healthy: true, detail: await probe() };
  } catch (error) {
    return {
      ...base,
      running: true,
      healthy: false,
      detail: `no answer: ${(error as Error).message}`,
    };
  }
}

function kafkaStatus(state: LocalInfraState): Promise<ComponentStatus> {
  return componentStatus(
    'kafka',
    state.kafka.brokers.join(','),
    state.kafka.pid,
    KAFKA_MAIN_CLASS,
    async () => {
      const cluster = await describeCluster(state.kafka.brokers, 2000);
      const plain = `Kafka ${state.kafka.version}, cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s)`;
      const { secure } = state.kafka;
      if (!secure) return `${plain}, no ${SECURE_LISTENER} listener`;
      await describeSecureListener(secure, 2000);
      return `${plain}, ${SECURE_LISTENER} on ${secure.brokers.join(',')}`;
    },
  );
}

function registryStatus(state: LocalInfraState): Promise<ComponentStatus> {
  return componentStatus(
    'registry',
    state.registry.url,
    state.registry.pid,
    REGISTRY_MARKER,
    async () => {
      const subjects = await pingRegistry(state.registry.url, 2000);
      return `Apicurio Registry ${state.registry.version}, ${subjects.length} subject(s)`;
    },
  );
}

export async function localStatus(env: NodeJS.ProcessEnv = process.env): Promise<LocalInfraStatus> {
  const state = await readState(infraPaths(env));
  if (!state) return { state, components: [], healthy: false };
  const components = await Promise.all([kafkaStatus(state), registryStatus(state)]);
  return { state, components, healthy: components.every((c) => c.healthy) };
}

/** Stops what the state file names and removes the instance's data. */
export async function localDown(
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ readonly stopped: readonly string[] }> {
  const paths = infraPaths(env);
  const state = await readState(paths);
  const stopped: string[] = [];
  if (state) {
    const [kafka, registry] = await Promise.all([
      stopProcess(state.kafka.pid, KAFKA_MAIN_CLASS),
      stopProcess(state.registry.pid, REGISTRY_MARKER),
    ]);
    if (kafka !== 'not-running') stopped.push(`kafka (pid ${state.kafka.pid}, ${kafka})`);
    if (registry !== 'not-running')
      stopped.push(`registry (pid ${state.registry.pid}, ${registry})`);
  }
  await rm(paths.stateFile, { force: true });
  await rm(paths.kafkaData, { recursive: true, force: true });
  await rm(paths.tls, { recursive: true, force: true });
  return { stopped };
}

/**
 * What to do with the instance the state file names: reuse it (healthy, or both processes
 * alive and answering within `timeoutMs`: a busy or still starting instance is somebody's,
 * never torn down), or replace it (a process is gone). One that runs another Kafka release
 * than MEMBRANE_KAFKA_VERSION asks for, or whose processes live but do not answer in time,
 * is left alone and refused with one sentence.
 */
export async function reuseOrReplace(
  existing: LocalInfraStatus,
  paths: InfraPaths,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  progress?: Progress,
): Promise<LocalInfraState | undefined> {
  const { state } = existing;
  if (state === undefined) return undefined;
  const alive = existing.components.length > 0 && existing.components.every((c) => c.running);
  if (!alive) return undefined;
  if (state.kafka.version !== paths.kafka.version)
    throw new InfraError(
      'infra.version-mismatch',
      `The local instance in ${paths.run} runs Kafka ${state.kafka.version} (pid ${state.kafka.pid}), not the ${paths.kafka.version} that MEMBRANE_KAFKA_VERSION${env['MEMBRANE_KAFKA_VERSION'] === undefined ? ' (unset)' : `=${env['MEMBRANE_KAFKA_VERSION']}`} asks for; it is left running.`,
      {
        hint: `to run Kafka ${paths.kafka.version}, give it a folder of its own (MEMBRANE_INFRA_DIR=${paths.run}-${paths.kafka.version}), or stop this one first (npm run infra -- down); to use this one, set MEMBRANE_KAFKA_VERSION=${state.kafka.version}`,
      },
    );
  if (existing.healthy) return state;
  progress?.say(
    `The local instance in ${paths.run} is running but not answering yet; waiting up to ${Math.round(timeoutMs / 1000)} s for it`,
  );
  const answered = await waitFor(
    async () => {
      const now = await localStatus(env);
      if (!now.healthy)
        throw new Error(
          now.components
            .filter((c) => !c.healthy)
            .map((c) => `${c.name}: ${c.detail}`)
            .join('; '),
        );
    },
    {
      timeoutMs,
      intervalMs: 500,
      giveUp: () =>
        isAlive(state.kafka.pid, KAFKA_MAIN_CLASS) && isAlive(state.registry.pid, REGISTRY_MARKER)
          ? undefined
          : 'a process exited',
    },
  );
  if (answered.ok) return state;
  if (!isAlive(state.kafka.pid, KAFKA_MAIN_CLASS) || !isAlive(state.registry.pid, REGISTRY_MARKER))
    return undefined;
  throw new InfraError(
    'infra.not-answering',
    `The local instance in ${paths.run} is running (Kafka pid ${state.kafka.pid}, registry pid ${state.registry.pid}) but did not answer within ${Math.round(timeoutMs / 1000)} s (${answered.reason}); it is left running.`,
    {
      hint: `look at ${paths.kafkaLog} and ${paths.registryLog}; if it is stuck, replace it with npm run infra -- down, then up`,
    },
  );
}

/**
 * Starts Kafka and the registry (downloading them the first time) and waits until both
 * answer. Reuses an instance that is up (see {@link reuseOrReplace}); replaces one whose
 * processes are gone.
 */
export async function localUp(
  options: LocalInfraOptions,
): Promise<{ readonly state: LocalInfraState; readonly started: boolean }> {
  const env = options.env ?? process.env;
  const paths = infraPaths(env);
  const existing = await localStatus(env);
  const reused = await reuseOrReplace(
    existing,
    paths,
    env,
    options.readyTimeoutMs ?? 120_000,
    options.progress,
  );
  if (reused) return { state: reused, started: false };
  if (existing.state) await localDown(env); // a process is gone: replace the instance

  // Cheap checks first: a missing JDK or a taken port is reported before any download.
  const java = requireJava(env);
  const taken = new Set<number>();
  const kafkaPort = await choosePort('MEMBRANE_KAFKA_PORT', env, taken);
  const controllerPort = await choosePort('MEMBRANE_KAFKA_CONTROLLER_PORT', env, taken);
  const registryPort = await choosePort('MEMBRANE_REGISTRY_PORT', env, taken);
  const securePort = await choosePort('MEMBRANE_KAFKA_SECURE_PORT', env, taken);
  const material = await createSecureMaterial(paths.tls, env);
  const registryHome = await ensureRegistryDist(paths, options.progress, env);
  const libs = await ensureKafkaJars(paths, options.progress, env);

  await rm(paths.kafkaData, { recursive: true, force: true });
  await mkdir(paths.kafkaData, { recursive: true });
  const brokers = [`${LOOPBACK}:${kafkaPort}`];
  const secure: SecureListenerState = {
    port: securePort,
    brokers: [`${LOOPBACK}:${securePort}`],
    mechanisms: SCRAM_MECHANISMS.map((m) => m.toLowerCase()),
    caFile: material.caFile,
    clientCertFile: material.clientCertFile,
    clientKeyFile: material.clientKeyFile,
    username: material.username,
    password: material.password,
    restricted: { username: RESTRICTED_USERNAME, password: material.restrictedPassword },
    oauthPrincipal: OAUTH_PRINCIPAL,
  };
  const state: LocalInfraState = {
    kafka: {
      version: paths.kafka.version,
      pid: 0,
      port: kafkaPort,
      controllerPort,
      brokers,
      secure,
    },
    registry: {
      version: APICURIO.version,
      pid: 0,
      port: registryPort,
      url: registryUrl(registryPort),
    },
    startedAt: new Date().toISOString(),
  };

  options.progress.say(
    `Starting Kafka ${paths.kafka.version} on ${brokers[0] ?? ''} and Apicurio Registry ${APICURIO.version} on ${state.registry.url}`,
  );
  const registryPid = await startRegistry(paths, registryHome, java, registryPort);
  let kafkaPid = 0;
  try {
    kafkaPid = await startKafka(paths, libs, java, {
      port: kafkaPort,
      controllerPort,
      dataDir: paths.kafkaData,
      secure: {
        port: securePort,
        keystoreFile: material.keystoreFile,
        keystorePassword: material.keystorePassword,
        truststoreFile: material.caFile,
        username: material.username,
        password: material.password,
        restrictedPassword: material.restrictedPassword,
      },
    });
  } catch (error) {
    await stopProcess(registryPid, REGISTRY_MARKER);
    throw error;
  }
  const started: LocalInfraState = {
    ...state,
    kafka: { ...state.kafka, pid: kafkaPid },
    registry: { ...state.registry, pid: registryPid },
  };
  // The state holds the SCRAM password: readable by its owner only.
  await writeFile(paths.stateFile, JSON.stringify(started, null, 2) + '\n', { mode: 0o600 });
  await chmod(paths.stateFile, 0o600);

  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  const [kafkaReady, registryReady] = await Promise.all([
    waitFor(
      async () => {
        await describeCluster(brokers, 2000);
        await warmUpCoordinators(brokers);
        await describeSecureListener(secure, 2000);
      },
      {
        timeoutMs,
        giveUp: () => (isAlive(kafkaPid, KAFKA_MAIN_CLASS) ? undefined : 'the process exited'),
      },
    ),
    waitFor(() => pingRegistry(started.registry.url, 2000), {
      timeoutMs,
      giveUp: () => (isAlive(registryPid, REGISTRY_MARKER) ? undefined : 'the process exited'),
    }),
  ]);
  if (!kafkaReady.ok || !registryReady.ok) {
    const failures: string[] = [];
    if (!kafkaReady.ok)
      failures.push(
        `Kafka did not start (${kafkaReady.reason}); its log ends:\n${await tail(paths.kafkaLog)}`,
      );
    if (!registryReady.ok)
      failures.push(
        `the registry did not start (${registryReady.reason}); its log ends:\n${await tail(paths.registryLog)}`,
      );
    await localDown(env);
    throw new InfraError('infra.start-failed', failures.join('\n'), {
      hint: `the full logs are in ${paths.kafkaLog} and ${paths.registryLog}`,
    });
  }
  return { state: started, started: true };
}

/** A value as one shell word: left alone when plain, otherwise single-quoted. */
function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * The lines a shell can `eval` to point tools and tests at this instance: KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL, and for the secured listener the MEMBRANE_TEST_* variables the test
 * harness reads (not KAFKA_SSL_*: those would point membrane's plaintext KAFKA_BROKERS at TLS).
 */
export function infraExportLines(state: LocalInfraState): string[] {
  const lines = [
    `export KAFKA_BROKERS=${shellWord(state.kafka.brokers.join(','))}`,
    `export SCHEMA_REGISTRY_URL=${shellWord(state.registry.url)}`,
  ];
  const { secure } = state.kafka;
  if (secure) {
    const vars: [string, string][] = [
      ['MEMBRANE_TEST_SECURE_BROKERS', secure.brokers.join(',')],
      ['MEMBRANE_TEST_CA_FILE', secure.caFile],
      ['MEMBRANE_TEST_CLIENT_CERT_FILE', secure.clientCertFile],
      ['MEMBRANE_TEST_CLIENT_KEY_FILE', secure.clientKeyFile],
      ['MEMBRANE_TEST_SCRAM_USERNAME', secure.username],
      ['MEMBRANE_TEST_SCRAM_PASSWORD', secure.password],
      ...(secure.restricted
        ? ([
            ['MEMBRANE_TEST_RESTRICTED_USERNAME', secure.restricted.username],
            ['MEMBRANE_TEST_RESTRICTED_PASSWORD', secure.restricted.password],
          ] as [string, string][])
        : []),
      ...(secure.oauthPrincipal
        ? ([['MEMBRANE_TEST_OAUTH_PRINCIPAL', secure.oauthPrincipal]] as [string, string][])
        : []),
    ];
    for (const [name, value] of vars) lines.push(`export ${name}=${shellWord(value)}`);
  }
  return lines;
}
