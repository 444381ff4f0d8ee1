import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeCluster } from '../../../src/adapters/kafka/client.js';
import { pingRegistry } from '../../../src/adapters/registry/client.js';
import type { LocalInfraStatus } from '../../../src/infra/local.js';
import { isAlive } from '../../../src/infra/processes.js';
import { runCli } from '../../support/cli.js';

describe('membrane infra up / status / down', () => {
  it('starts a second, independent instance, reports it healthy, reuses it, and stops it without leftovers', async () => {
    // Its own state folder; the downloaded jars are shared with the run's instance.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      MEMBRANE_INFRA_DIR: await mkdtemp(join(tmpdir(), 'membrane-infra-')),
    };
    delete env['KAFKA_BROKERS'];
    delete env['SCHEMA_REGISTRY_URL'];

    try {
      await lifecycle(env);
    } finally {
      // Whatever failed above, leave no broker or registry behind.
      await runCli(['infra', 'down'], env);
    }
  });
});

async function lifecycle(env: NodeJS.ProcessEnv): Promise<void> {
  {
    const up = await runCli(['infra', 'up'], env);
    expect(up.stderr).toMatch(/^Starting Kafka [\d.]+ on 127\.0\.0\.1:\d+ and Apicurio Registry/);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^Local infrastructure is up\./);

    const status = await runCli(['infra', 'status', '--json'], env);
    expect(status.code).toBe(0);
    const parsed = JSON.parse(status.stdout) as LocalInfraStatus;
    expect(parsed.healthy).toBe(true);
    expect(parsed.components.map((c) => [c.name, c.healthy])).toEqual([
      ['kafka', true],
      ['registry', true],
    ]);
    const { state } = parsed;
    if (!state) throw new Error('no state');
    expect(up.stdout).toContain(`export KAFKA_BROKERS=${state.kafka.brokers.join(',')}`);
    expect((await describeCluster(state.kafka.brokers)).brokers).toHaveLength(1);
    expect(await pingRegistry(state.registry.url)).toEqual([]);

    const table = await runCli(['infra', 'status'], env);
    expect(table.stdout).toMatch(/^kafka\s+healthy\s+127\.0\.0\.1:\d+/m);
    expect(table.stdout).toMatch(
      /^registry\s+healthy\s+http:\/\/127\.0\.0\.1:\d+\/apis\/ccompat\/v7/m,
    );

    const again = await runCli(['infra', 'up'], env);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^Local infrastructure was already up\./);
    expect(again.stdout).toContain(`pid ${state.kafka.pid}`);

    const down = await runCli(['infra', 'down'], env);
    expect(down.code).toBe(0);
    expect(down.stdout).toMatch(
      /^Stopped kafka \(pid \d+, terminated\) and registry \(pid \d+, terminated\)\./,
    );
    expect(isAlive(state.kafka.pid)).toBe(false);
    expect(isAlive(state.registry.pid)).toBe(false);

    const after = await runCli(['infra', 'status'], env);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/not running/);
  }
}
