import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCluster, warmUpCoordinators } from '../../src/adapters/kafka/client.js';
import { ensureKafkaJars } from '../../src/infra/downloads.js';
import { KAFKA_MAIN_CLASS, launchKafka, startKafka } from '../../src/infra/kafka.js';
import { infraPaths } from '../../src/infra/paths.js';
import { freePort, LOOPBACK } from '../../src/infra/ports.js';
import { isAlive, stopProcess, tail } from '../../src/infra/processes.js';
import { silentProgress } from '../../src/infra/progress.js';
import { requireJava } from '../../src/infra/tools.js';
import { waitFor } from '../../src/infra/wait.js';

/**
 * A broker of a test's own (same jars and settings as `npm run infra -- up`, its own data
 * folder and ports), so that a scenario can stop and restart it without touching the broker
 * every other test shares. Needs Java; the jars come from the cache.
 */
export interface OwnBroker {
  readonly brokers: readonly string[];
  /**
   * Stops the broker process: `graceful` sends SIGTERM (a controlled shutdown, as an operator
   * would), otherwise SIGKILL (a crash: the restart recovers its logs).
   */
  stop(how?: 'graceful' | 'crash'): Promise<void>;
  /** Starts it again on the same data and ports; resolves once it serves groups and transactions. */
  start(): Promise<void>;
  /** Stops it and removes its data. */
  close(): Promise<void>;
  /** Whether its process runs, and the last lines of its log: for a failing test's message. */
  status(): Promise<string>;
}

export async function ownBroker(): Promise<OwnBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'membrane-broker-'));
  const env = { ...process.env, MEMBRANE_INFRA_DIR: dir };
  const paths = infraPaths(env);
  const java = requireJava(env);
  const libs = await ensureKafkaJars(paths, silentProgress, env);
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const settings = { port, controllerPort, dataDir: paths.kafkaData };
  const brokers = [`${LOOPBACK}:${settings.port}`];
  let pid = 0;
  let formatted = false;
  const start = async (): Promise<void> => {
    pid = formatted
      ? await launchKafka(paths, libs, java)
      : await startKafka(paths, libs, java, settings);
    formatted = true;
    const ready = await waitFor(
      async () => {
        await describeCluster(brokers, 2000);
        await warmUpCoordinators(brokers);
      },
      {
        timeoutMs: 120_000,
        giveUp: () => (isAlive(pid, KAFKA_MAIN_CLASS) ? undefined : 'the process exited'),
      },
    );
    if (!ready.ok)
      throw new Error(
        `the test's broker did not start: ${ready.reason}\n${await tail(paths.kafkaLog)}`,
      );
  };
  const stop = async (how: 'graceful' | 'crash' = 'graceful'): Promise<void> => {
    if (how === 'crash' && isAlive(pid, KAFKA_MAIN_CLASS)) process.kill(-pid, 'SIGKILL');
    await stopProcess(pid, KAFKA_MAIN_CLASS);
  };
  await start();
  return {
    brokers,
    start,
    stop,
    close: async () => {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
    status: async () =>
      `the test's broker (pid ${pid}, ${brokers.join(',')}) is ${isAlive(pid, KAFKA_MAIN_CLASS) ? 'running' : 'not running'}; its log ends:\n${await tail(paths.kafkaLog, 40)}`,
  };
}
