import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type AclEntry,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../support/cli.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { restrictedUser, secureEnv } from '../../support/secure.js';

/**
 * Found by a review (review12c): `membrane status` showed a lag it could not know when it
 * did not learn the group's inputs from MEMBRANE_MAPPINGS — an input given as `${env:NAME}`
 * with NAME unset where status runs, or a MEMBRANE_MAPPINGS folder that is not there. Kafka
 * leaves a topic the principal may not describe out of the group's committed offsets, so the
 * topic silently vanished from the table and the total. With no member running (whose
 * subscriptions would say), the total is now a lower bound, said as such, with the reason.
 */
describe('membrane status when the inputs of the mappings are not all known', () => {
  const ctx = useOrderTopics(2);
  const granted: AclEntry[] = [];
  let env: NodeJS.ProcessEnv;
  let folder = '';

  beforeAll(async () => {
    const topics = ctx.topics();
    const user = restrictedUser();
    folder = await mkdtemp(join(tmpdir(), 'review12c-'));
    // The group's mapping names its input through a variable, as deployments do.
    await writeFile(
      join(folder, 'orders.yaml'),
      'name: orders\nsource:\n  topics: ["${env:REVIEW12C_INPUT}"]\n',
    );
    env = secureEnv(
      ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn', MEMBRANE_MAPPINGS: folder }),
      { KAFKA_SASL_USERNAME: user.username, KAFKA_SASL_PASSWORD: user.password },
    );
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, 10) });
    await producer.disconnect();
    // Committed 0 on both partitions: the group's real lag is the 10 records.
    await ctx.admin().setOffsets({
      groupId: topics.group,
      topic: topics.input,
      partitions: [
        { partition: 0, offset: '0' },
        { partition: 1, offset: '0' },
      ],
    });
    const acl = (
      resourceType: AclResourceTypes,
      resourceName: string,
      operation: AclOperationTypes,
    ): AclEntry => ({
      resourceType,
      resourceName,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: `User:${user.username}`,
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    });
    // Everything status needs but DESCRIBE on the input.
    const entries = [
      acl(AclResourceTypes.GROUP, topics.group, AclOperationTypes.DESCRIBE),
      acl(AclResourceTypes.TOPIC, topics.quarantine, AclOperationTypes.DESCRIBE),
    ];
    granted.push(...entries);
    await ctx.admin().createAcls({ acl: entries });
  });

  afterAll(async () => {
    if (granted.length > 0) await ctx.admin().deleteAcls({ filters: granted });
    if (folder !== '') await rm(folder, { recursive: true, force: true });
  });

  it('with the input set, exits 77 naming it (what held)', async () => {
    const result = await runCli(['status'], { ...env, REVIEW12C_INPUT: ctx.topics().input });
    expect(result.code, result.stderr).toBe(77);
    expect(result.stderr).toContain(`may not describe topic ${ctx.topics().input}`);
  });

  it('an input given as ${env:NAME} with NAME unset where status runs: the total is a lower bound, saying why', async () => {
    const result = await runCli(['status'], env);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /^total lag ≥ 0: no member is running, and the inputs of the mappings are not all known \(\S+orders\.yaml reads \$\{env:REVIEW12C_INPUT\} and REVIEW12C_INPUT is not set\); an input the principal may not describe would be missing here$/m,
    );
  });

  it('a MEMBRANE_MAPPINGS folder that is not there: the total is a lower bound, saying why', async () => {
    const missing = join(folder, 'missing');
    const result = await runCli(['status'], {
      ...env,
      REVIEW12C_INPUT: ctx.topics().input,
      MEMBRANE_MAPPINGS: missing,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `total lag ≥ 0: no member is running, and the inputs of the mappings are not all known (MEMBRANE_MAPPINGS (${missing}) holds no mapping files)`,
    );
  });
});
