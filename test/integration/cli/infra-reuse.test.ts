import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { KAFKA_MAIN_CLASS } from '../../../src/infra/kafka.js';
import { localStatus, reuseOrReplace, type LocalInfraState } from '../../../src/infra/local.js';
import { infraPaths, projectRoot } from '../../../src/infra/paths.js';
import { isAlive } from '../../../src/infra/processes.js';
import { silentProgress } from '../../../src/infra/progress.js';
import { REGISTRY_MARKER } from '../../../src/infra/registry.js';
import { infra } from '../../support/kafka.js';
import { cuttableProxy, type CuttableProxy } from '../../support/proxy.js';

/**
 * `infra up` and an instance that is already there (review 12b): one that is alive but slow
 * to answer is waited for and reused, never torn down (other sessions use it); one that runs
 * another Kafka release than MEMBRANE_KAFKA_VERSION asks for is refused in one sentence, left
 * running; only one whose process is gone is replaced. The instance here is a state file of
 * the test's own (MEMBRANE_INFRA_DIR=.cache/infra-acl-test) naming stand-in processes (their
 * command lines carry the markers `infra` looks for) and, behind a proxy the test opens and
 * closes, the run's real broker and registry: nothing of the shared instance is touched.
 */
const DIR = join(projectRoot(), '.cache', 'infra-acl-test');
const env: NodeJS.ProcessEnv = { ...process.env, MEMBRANE_INFRA_DIR: DIR };
delete env['MEMBRANE_KAFKA_VERSION'];

const children: ChildProcess[] = [];
const proxies: CuttableProxy[] = [];

/** A process that looks like the local broker or registry to `infra` (its marker in argv). */
async function standIn(marker: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)', marker], {
    stdio: 'ignore',
  });
  children.push(child);
  await once(child, 'spawn');
  return child;
}

/** The state file of an instance whose broker and registry are reached through proxies. */
async function instance(
  version: string,
  proxied: { kafka: CuttableProxy; registry: CuttableProxy },
): Promise<{ state: LocalInfraState; kafka: ChildProcess; registry: ChildProcess }> {
  const kafka = await standIn(KAFKA_MAIN_CLASS);
  const registry = await standIn(REGISTRY_MARKER);
  const registryPath = new URL(infra().registryUrl).pathname;
  const state: LocalInfraState = {
    kafka: {
      version,
      pid: kafka.pid ?? 0,
      port: proxied.kafka.port,
      controllerPort: 1,
      brokers: [`127.0.0.1:${proxied.kafka.port}`],
    },
    registry: {
      version: '3.0.9',
      pid: registry.pid ?? 0,
      port: proxied.registry.port,
      url: `http://127.0.0.1:${proxied.registry.port}${registryPath}`,
    },
    startedAt: new Date().toISOString(),
  };
  await mkdir(DIR, { recursive: true });
  await writeFile(infraPaths(env).stateFile, JSON.stringify(state));
  return { state, kafka, registry };
}

async function proxies2(): Promise<{ kafka: CuttableProxy; registry: CuttableProxy }> {
  const [host, port] = (infra().brokers[0] ?? '').split(':');
  const registry = new URL(infra().registryUrl);
  const kafka = await cuttableProxy(host ?? '127.0.0.1', Number(port));
  const reg = await cuttableProxy(registry.hostname, Number(registry.port));
  proxies.push(kafka, reg);
  return { kafka, registry: reg };
}

afterEach(async () => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const proxy of proxies.splice(0)) await proxy.close();
});

afterAll(async () => {
  await rm(DIR, { recursive: true, force: true });
});

describe('infra up and the instance already in MEMBRANE_INFRA_DIR', () => {
  it('waits for a live instance that is slow to answer and reuses it', async () => {
    const proxied = await proxies2();
    await proxied.kafka.down();
    const { state, kafka, registry } = await instance('3.9.1', proxied);
    const said: string[] = [];
    const reused = await reuseOrReplace(await localStatus(env), infraPaths(env), env, 60_000, {
      ...silentProgress,
      say: (line) => {
        said.push(line);
        // The broker answers again once `up` has said it waits for it.
        void proxied.kafka.up();
      },
    });
    expect(reused).toEqual(state);
    expect(said).toEqual([
      `The local instance in ${DIR} is running but not answering yet; waiting up to 60 s for it`,
    ]);
    // Never torn down.
    expect(isAlive(kafka.pid ?? 0, KAFKA_MAIN_CLASS)).toBe(true);
    expect(isAlive(registry.pid ?? 0, REGISTRY_MARKER)).toBe(true);
  });

  it('refuses, and leaves running, a live instance that does not answer in time', async () => {
    const proxied = await proxies2();
    await proxied.kafka.down();
    const { kafka } = await instance('3.9.1', proxied);
    const error: unknown = await reuseOrReplace(
      await localStatus(env),
      infraPaths(env),
      env,
      1_500,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'infra.not-answering' });
    expect((error as Error).message).toMatch(
      new RegExp(
        `^The local instance in ${DIR} is running \\(Kafka pid ${kafka.pid ?? 0}, registry pid \\d+\\) but did not answer within 2 s \\(.+\\); it is left running\\.$`,
      ),
    );
    expect(isAlive(kafka.pid ?? 0, KAFKA_MAIN_CLASS)).toBe(true);
  });

  it('refuses, and leaves running, an instance of another Kafka release than MEMBRANE_KAFKA_VERSION', async () => {
    const proxied = await proxies2();
    const { kafka } = await instance('3.9.1', proxied);
    const wanted = { ...env, MEMBRANE_KAFKA_VERSION: '4.1.2' };
    const error: unknown = await reuseOrReplace(
      await localStatus(wanted),
      infraPaths(wanted),
      wanted,
      60_000,
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 'infra.version-mismatch' });
    expect((error as Error).message).toBe(
      `The local instance in ${DIR} runs Kafka 3.9.1 (pid ${kafka.pid ?? 0}), not the 4.1.2 that MEMBRANE_KAFKA_VERSION=4.1.2 asks for; it is left running.`,
    );
    expect((error as { hint?: string }).hint).toBe(
      `to run Kafka 4.1.2, give it a folder of its own (MEMBRANE_INFRA_DIR=${DIR}-4.1.2), or stop this one first (npm run infra -- down); to use this one, set MEMBRANE_KAFKA_VERSION=3.9.1`,
    );
    expect(isAlive(kafka.pid ?? 0, KAFKA_MAIN_CLASS)).toBe(true);
  });

  it('replaces an instance whose broker process is gone', async () => {
    const proxied = await proxies2();
    const { kafka, registry } = await instance('4.1.2', proxied);
    kafka.kill('SIGKILL');
    await once(kafka, 'exit');
    const replaced = await reuseOrReplace(await localStatus(env), infraPaths(env), env, 60_000);
    // undefined: `up` stops what is left (the registry) and starts a new instance.
    expect(replaced).toBeUndefined();
    expect(isAlive(registry.pid ?? 0, REGISTRY_MARKER)).toBe(true);
  });
});
