import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeCluster } from '../../../src/adapters/kafka/client.js';
import { pingRegistry } from '../../../src/adapters/registry/client.js';
import type { LocalInfraStatus } from '../../../src/infra/local.js';
import { isAlive } from '../../../src/infra/processes.js';
import { describeSecureListener } from '../../../src/infra/secure.js';
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
    // Two JVMs start from nothing (the registry alone takes a minute on a busy 2-core machine).
  }, 240_000);
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
    // The SASL_SSL listener beside it: its CA and SCRAM user work, and status probes it.
    const { secure } = state.kafka;
    if (!secure) throw new Error('no SASL_SSL listener in the state');
    expect(secure.brokers).toEqual([`127.0.0.1:${secure.port}`]);
    await describeSecureListener(secure);

    const table = await runCli(['infra', 'status'], env);
    expect(table.stdout).toMatch(/^kafka\s+healthy\s+127\.0\.0\.1:\d+/m);
    expect(table.stdout).toContain(`SASL_SSL on 127.0.0.1:${secure.port}`);
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
    // The instance's certificates and credentials go with it.
    expect(existsSync(secure.caFile)).toBe(false);

    const after = await runCli(['infra', 'status'], env);
    expect(after.code).toBe(1);
    expect(after.stdout).toMatch(/not running/);
  }
}
