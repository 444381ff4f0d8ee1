import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type AclEntry,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../support/cli.js';
import { createTopics } from '../support/kafka.js';
import { orderMessages, useOrderTopics } from '../support/orders.js';
import { restrictedUser, secureEnv } from '../support/secure.js';

/**
 * Fresh-eyes review 12 (review12b): problems found in the ACL and topic checks, pinned as
 * they behave today. Each `it` names the problem and what the README promises instead; when
 * one is fixed, its test fails and should be turned into a test of the right behaviour.
 */

/** What membrane wrote to stderr for the user, without pino's JSON log lines. */
function report(result: CliResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
    .join('\n');
}

describe('review12b: MEMBRANE_CREATE_TOPICS=false', () => {
  const ctx = useOrderTopics(2);

  it('PROBLEM: run refuses to start, saying existing output and quarantine topics "do not exist"', async () => {
    const topics = ctx.topics();
    // Every topic run writes to exists (created by the operator, as with MEMBRANE_CREATE_TOPICS=false).
    await createTopics(
      ctx.admin(),
      [topics.placed, topics.cancelled, topics.quarantine].map((topic) => ({
        topic,
        numPartitions: 2,
      })),
    );
    const listed = await ctx.admin().listTopics();
    for (const topic of [topics.placed, topics.cancelled, topics.quarantine])
      expect(listed).toContain(topic);

    // Over the plaintext listener: ANONYMOUS is a super user, so no ACL is involved.
    const result = await runCli(
      ['run'],
      ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn', MEMBRANE_CREATE_TOPICS: 'false' }),
    );
    // Expected: membrane starts (the topics exist). Today prepareTopics asks existingTopics()
    // only about the inputs (commit e719696), so every output counts as absent.
    expect(result.code, result.stderr).toBe(1);
    expect(report(result)).toContain(
      `Output topics ${topics.placed}, ${topics.cancelled}, ${topics.quarantine} do not exist and MEMBRANE_CREATE_TOPICS=false.`,
    );
  });
});

describe('review12b: a principal allowed some things and not others (real ACLs)', () => {
  const ctx = useOrderTopics(2);
  let env: NodeJS.ProcessEnv;
  let principal: string;
  const granted: AclEntry[] = [];
  const acl = (
    resourceType: AclResourceTypes,
    resourceName: string,
    operation: AclOperationTypes,
    resourcePatternType: ResourcePatternTypes = ResourcePatternTypes.LITERAL,
  ): AclEntry => ({
    resourceType,
    resourceName,
    resourcePatternType,
    principal,
    host: '*',
    operation,
    permissionType: AclPermissionTypes.ALLOW,
  });
  const grant = async (...entries: AclEntry[]): Promise<void> => {
    granted.push(...entries);
    await ctx.admin().createAcls({ acl: entries });
  };

  beforeAll(async () => {
    const user = restrictedUser();
    principal = `User:${user.username}`;
    env = secureEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), {
      KAFKA_SASL_USERNAME: user.username,
      KAFKA_SASL_PASSWORD: user.password,
    });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: ctx.topics().input, messages: orderMessages(0, 10) });
    await producer.disconnect();
  });

  afterAll(async () => {
    // The ACLs live in the shared broker: leave none behind.
    if (granted.length > 0) await ctx.admin().deleteAcls({ filters: granted });
  });

  it('PROBLEM: status says "total lag 0" (exit 0) when the principal may not describe the input topic', async () => {
    const topics = ctx.topics();
    // The group has committed offset 0 on both partitions: its real lag is the 10 records.
    await ctx.admin().setOffsets({
      groupId: topics.group,
      topic: topics.input,
      partitions: [
        { partition: 0, offset: '0' },
        { partition: 1, offset: '0' },
      ],
    });
    // status may see the group and the (not yet existing) quarantine topic, not the input.
    await grant(
      acl(AclResourceTypes.GROUP, topics.group, AclOperationTypes.DESCRIBE),
      acl(AclResourceTypes.TOPIC, topics.quarantine, AclOperationTypes.DESCRIBE),
    );
    const result = await runCli(['status'], env);
    // Expected: exit 77 naming the input topic (or at least not a lag it cannot know).
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^total lag 0$/m);
    expect(result.stdout).not.toContain(topics.input);
  });

  it('PROBLEM: quarantine list exits 1 with no "What to do" line when it may describe but not read the quarantine topic', async () => {
    const topics = ctx.topics();
    await createTopics(ctx.admin(), [{ topic: topics.quarantine, numPartitions: 1 }]);
    // Not empty: an empty topic is read without a fetch (and rightly listed as empty).
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.quarantine, messages: [{ key: 'k', value: 'v' }] });
    await producer.disconnect();
    await grant(
      acl(AclResourceTypes.TOPIC, topics.quarantine, AclOperationTypes.DESCRIBE),
      acl(AclResourceTypes.TOPIC, `${topics.quarantine}.resolutions`, AclOperationTypes.DESCRIBE),
      acl(
        AclResourceTypes.GROUP,
        'membrane-cli.',
        AclOperationTypes.READ,
        ResourcePatternTypes.PREFIXED,
      ),
    );
    const result = await runCli(['quarantine', 'list'], env);
    // Expected (README, "The first connection"): "a `quarantine` command without Read on the
    // quarantine topic: `*_AUTHORIZATION_FAILED`) ends it with one sentence, exit 77", with
    // its What to do line. Today the restore's RestoreError (a MembraneError) is passed
    // through as it is: exit 1, kafkajs's words, no hint.
    expect(result.code, result.stderr).toBe(1);
    expect(report(result)).toMatch(
      /^membrane: Restoring \S+ failed \(partitions at 0@0\): Not authorized to access topics: \[Topic authorization failed\]$/,
    );
    expect(report(result)).not.toMatch(/What to do/);
  });
});
