import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../src/infra/ports.js';
import { runCli, type CliResult } from '../support/cli.js';
import { holdPort } from '../support/net.js';

/** An environment with its own, empty cache and state folders. */
async function isolatedEnv(extra: NodeJS.ProcessEnv = {}): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'membrane-cli-'));
  const { PATH, HOME, JAVA_HOME } = process.env;
  return {
    PATH,
    HOME,
    ...(JAVA_HOME ? { JAVA_HOME } : {}),
    MEMBRANE_CACHE_DIR: join(dir, 'cache'),
    MEMBRANE_INFRA_DIR: join(dir, 'infra'),
    ...extra,
  };
}

/** One sentence and what to do; never a stack trace. */
function expectCleanFailure(result: CliResult, sentence: RegExp): void {
  expect(result.code).toBe(1);
  // Progress lines may come first; the error is the last two lines, and the only ones.
  const lines = result.stderr.trimEnd().split('\n');
  const errorLines = lines.filter((line) => line.startsWith('membrane: '));
  expect(errorLines).toHaveLength(1);
  const [sentenceLine, whatToDo] = lines.slice(-2);
  expect(sentenceLine).toMatch(/^membrane: /);
  expect(sentenceLine).toMatch(sentence);
  expect(whatToDo).toMatch(/^ {2}What to do: .+\.$/);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('membrane infra, when the environment is broken', () => {
  let held: { port: number; release: () => Promise<void> } | undefined;

  afterEach(async () => {
    await held?.release();
    held = undefined;
  });

  it('says Java is missing when there is no java', async () => {
    const env = await isolatedEnv({ PATH: '/nonexistent' });
    delete env['JAVA_HOME'];
    expectCleanFailure(
      await runCli(['infra', 'up'], env),
      /Java is needed to run the local Kafka broker/,
    );
  });

  it('says which port is taken', async () => {
    held = await holdPort();
    const { port } = held;
    const env = await isolatedEnv({ MEMBRANE_KAFKA_PORT: String(port) });
    expectCleanFailure(
      await runCli(['infra', 'up'], env),
      new RegExp(
        `Port ${port} on 127\\.0\\.0\\.1, asked for by MEMBRANE_KAFKA_PORT, is already in use`,
      ),
    );
  });

  it('says the download failed when Maven Central cannot be reached', async () => {
    const port = await freePort();
    const env = await isolatedEnv({ MAVEN_CENTRAL_URL: `http://127.0.0.1:${port}` });
    expectCleanFailure(await runCli(['infra', 'up'], env), /Could not reach http:\/\/127\.0\.0\.1/);
  });

  it('status says nothing runs, with exit code 1', async () => {
    const result = await runCli(['infra', 'status'], await isolatedEnv());
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/not running/);
  });
});
