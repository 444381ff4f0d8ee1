import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRunConfig } from '../../../src/app/config.js';
import { createLogger } from '../../../src/app/logger.js';
import { Runtime } from '../../../src/app/runtime/bootstrap.js';
import { mappingDigest, schemaFilesOf } from '../../../src/mapping/digest.js';
import { loadMappingText } from '../../../src/mapping/load.js';
import { runCli } from '../../support/cli.js';
import { orderKind, orderMessages, useOrderTopics } from '../../support/orders.js';
import { runUntilCommitted } from '../../support/runtime.js';
import { until } from '../../support/scenario.js';

const N = 100;
const fixable = Array.from({ length: N }, (_, i) => i).filter(
  (i) => orderKind(i) === 'unknown-status',
).length;

/**
 * One mapping version at a time: a replay with a mapping other than the one the live group
 * runs refuses, unless --force; --dry-run only warns. The member runs legacy-orders@3; the
 * replay reads the mapping fixed as version 4.
 */
describe('quarantine replay against a live group running another mapping version', () => {
  const ctx = useOrderTopics(2);
  let env: NodeJS.ProcessEnv;
  let live: Runtime | undefined;
  let v3: string;
  let v4: string;

  beforeAll(async () => {
    const topics = ctx.topics();
    env = ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'silent' });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();
    await runUntilCommitted(env, ctx.admin(), topics.group, topics.input, N);
    // The live member, with version 3.
    live = new Runtime({ config: loadRunConfig(env), logger: createLogger('silent'), env });
    await live.start();
    await until('the live member in a stable group', async () => {
      const { groups } = await ctx.admin().describeGroups([topics.group]);
      return groups[0]?.state === 'Stable' && groups[0].members.length === 1;
    });
    // The mapping fixed on disk, as an operator does before replaying.
    const file = join(topics.mappings, 'legacy-orders.yaml');
    const text = await readFile(file, 'utf8');
    // The digests as membrane makes them: the mapping's text and the schema files it names.
    const schemas = await Promise.all(
      schemaFilesOf(loadMappingText(text, file, env).spec).map((schema) =>
        readFile(resolve(dirname(file), schema), 'utf8'),
      ),
    );
    v3 = mappingDigest(text, schemas).slice(0, 8);
    const fixed = text
      .replace('version: 3', 'version: 4')
      .replace('lookup: { N: NEW, P: PAID }', 'lookup: { N: NEW, P: PAID, Q: NEW }');
    v4 = mappingDigest(fixed, schemas).slice(0, 8);
    await writeFile(file, fixed);
  });

  afterAll(async () => {
    await live?.stop();
  });

  it('refuses, naming both versions and the member, and writes nothing', async () => {
    const end = async (): Promise<string> =>
      JSON.stringify(await ctx.admin().fetchTopicOffsets(ctx.topics().placed));
    const before = await end();
    const refused = await runCli(['quarantine', 'replay', '--code', 'map.*'], env);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `^membrane: The live group runs legacy-orders@3 \\(${v3}\\) \\(member \\S+@\\S+\\), but this replay would use legacy-orders@4 \\(${v4}\\) from MEMBRANE_MAPPINGS\\.$`,
        'm',
      ),
    );
    expect(refused.stderr).toContain('--force replays anyway');
    expect(refused.stdout).toBe('');
    expect(await end()).toBe(before);
  });

  it('--dry-run warns and shows what would pass', async () => {
    const dry = await runCli(['quarantine', 'replay', '--code', 'map.*', '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain(
      'but this replay would use legacy-orders@4 (' +
        v4 +
        ') from MEMBRANE_MAPPINGS. (a replay without --dry-run refuses unless --force)',
    );
    expect(dry.stdout).toMatch(new RegExp(`^${fixable} would be replayed`, 'm'));
  });

  it('--force replays all the same, saying so', async () => {
    const forced = await runCli(['quarantine', 'replay', '--code', 'map.*', '--force'], env);
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain('(--force: replaying anyway)');
    expect(forced.stdout).toMatch(new RegExp(`^${fixable} replayed, 0 dropped`, 'm'));
  });
});
