import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type AclEntry,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../support/cli.js';
import { createTopics } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { committedOf, until } from '../../support/scenario.js';
import { restrictedUser, secureEnv } from '../../support/secure.js';

/**
 * A principal allowed some things and not others (review 12b), against the local broker's
 * real ACLs (StandardAuthorizer) with its SCRAM user that no ACL grants anything by itself.
 * `status` must never show a lag it cannot know, and every refusal names the ACL to grant:
 * operation, resource type and name.
 */

/** What membrane wrote to stderr for the user, without pino's JSON log lines. */
function report(result: CliResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
    .join('\n');
}

/** A scenario of its own: fresh topics and group, its own ACLs, removed afterwards. */
function useRestricted(): {
  ctx: ReturnType<typeof useOrderTopics>;
  env: () => NodeJS.ProcessEnv;
  user: () => string;
  grant: (
    resourceType: AclResourceTypes,
    resourceName: string,
    operations: readonly AclOperationTypes[],
    pattern?: ResourcePatternTypes,
  ) => Promise<void>;
} {
  const ctx = useOrderTopics(2);
  const granted: AclEntry[] = [];
  let env: NodeJS.ProcessEnv = {};
  let username = '';
  beforeAll(async () => {
    const user = restrictedUser();
    username = user.username;
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
  return {
    ctx,
    env: () => env,
    user: () => username,
    grant: async (
      resourceType,
      resourceName,
      operations,
      pattern = ResourcePatternTypes.LITERAL,
    ) => {
      const entries = operations.map((operation): AclEntry => ({
        resourceType,
        resourceName,
        resourcePatternType: pattern,
        principal: `User:${username}`,
        host: '*',
        operation,
        permissionType: AclPermissionTypes.ALLOW,
      }));
      granted.push(...entries);
      await ctx.admin().createAcls({ acl: entries });
    },
  };
}

const { DESCRIBE, READ, WRITE, CREATE, DESCRIBE_CONFIGS } = AclOperationTypes;
const { TOPIC, GROUP } = AclResourceTypes;

describe('membrane status with an input topic it may not describe', () => {
  const s = useRestricted();

  beforeAll(async () => {
    const topics = s.ctx.topics();
    // The group has committed offset 0 on both partitions: its real lag is the 10 records.
    await s.ctx.admin().setOffsets({
      groupId: topics.group,
      topic: topics.input,
      partitions: [
        { partition: 0, offset: '0' },
        { partition: 1, offset: '0' },
      ],
    });
    // status may see the group and the (not yet existing) quarantine topic, not the input.
    await s.grant(GROUP, topics.group, [DESCRIBE]);
    await s.grant(TOPIC, topics.quarantine, [DESCRIBE]);
  });

  it('exits 77 naming the topic and the ACL to grant, instead of "total lag 0"', async () => {
    const topics = s.ctx.topics();
    for (const args of [['status'], ['status', '--json']]) {
      const result = await runCli(args, s.env());
      expect(result.code, result.stderr).toBe(77);
      expect(result.stdout).toBe('');
      expect(report(result)).toBe(
        [
          `membrane: membrane status may not describe topic ${topics.input}, read by group ${topics.group} according to the mappings in MEMBRANE_MAPPINGS (TOPIC_AUTHORIZATION_FAILED), so the group's lag there is unknown.`,
          `  What to do: allow the principal membrane connects as (User:${s.env()['KAFKA_SASL_USERNAME'] ?? ''}) DESCRIBE on topic ${topics.input}.`,
        ].join('\n'),
      );
    }
  });

  it('with DESCRIBE on the input granted, shows the real lag', async () => {
    const topics = s.ctx.topics();
    await s.grant(TOPIC, topics.input, [DESCRIBE]);
    const result = await runCli(['status'], s.env());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^total lag 10$/m);
    expect(result.stdout).toMatch(new RegExp(`^${topics.input}\\s+0\\s+0\\s+\\d+\\s+\\d+$`, 'm'));
  });
});

describe('membrane status for a group that has committed nothing yet', () => {
  const s = useRestricted();

  it('lists the mappings\' input partitions as "none committed" with their whole lag, not "total lag 0"', async () => {
    const topics = s.ctx.topics();
    await s.grant(GROUP, topics.group, [DESCRIBE]);
    await s.grant(TOPIC, topics.input, [DESCRIBE]);
    await s.grant(TOPIC, topics.quarantine, [DESCRIBE]);
    const result = await runCli(['status'], s.env());
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^total lag 10$/m);
    expect(result.stdout).toMatch(
      new RegExp(`^${topics.input}\\s+0\\s+none committed\\s+\\d+\\s+\\d+$`, 'm'),
    );
  });
});

describe('membrane quarantine list that may describe but not read the quarantine topic', () => {
  const s = useRestricted();

  it('exits 77 naming the topics and the ACLs to grant', async () => {
    const topics = s.ctx.topics();
    await createTopics(s.ctx.admin(), [{ topic: topics.quarantine, numPartitions: 1 }]);
    // Not empty: an empty topic is read without a fetch (and rightly listed as empty).
    const producer = s.ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.quarantine, messages: [{ key: 'k', value: 'v' }] });
    await producer.disconnect();
    await s.grant(TOPIC, topics.quarantine, [DESCRIBE]);
    await s.grant(TOPIC, `${topics.quarantine}.resolutions`, [DESCRIBE]);
    await s.grant(GROUP, 'membrane-cli.', [READ], ResourcePatternTypes.PREFIXED);
    const result = await runCli(['quarantine', 'list'], s.env());
    expect(result.code, result.stderr).toBe(77);
    expect(report(result)).toBe(
      [
        `membrane: membrane quarantine list is not authorised to use topic ${topics.quarantine}, topic ${topics.quarantine}.resolutions (TOPIC_AUTHORIZATION_FAILED).`,
        `  What to do: allow the principal membrane connects as (User:${s.user()}) DESCRIBE and READ on topic ${topics.quarantine}; DESCRIBE and READ on topic ${topics.quarantine}.resolutions.`,
      ].join('\n'),
    );
  });
});

describe('membrane quarantine replay without its transactional ID', () => {
  const s = useRestricted();

  it("exits 77 naming membrane-replay.<quarantine topic>, not 1 with kafkajs's words", async () => {
    const topics = s.ctx.topics();
    const q = topics.quarantine;
    await createTopics(s.ctx.admin(), [
      { topic: q, numPartitions: 1 },
      { topic: topics.placed, numPartitions: 1 },
      { topic: topics.cancelled, numPartitions: 1 },
    ]);
    // Everything a replay needs but its transactional ID.
    await s.grant(TOPIC, q, [DESCRIBE, READ, WRITE, DESCRIBE_CONFIGS]);
    await s.grant(TOPIC, `${q}.resolutions`, [DESCRIBE, READ, WRITE, CREATE]);
    for (const output of [topics.placed, topics.cancelled])
      await s.grant(TOPIC, output, [DESCRIBE, WRITE, DESCRIBE_CONFIGS]);
    await s.grant(GROUP, topics.group, [DESCRIBE]);
    await s.grant(
      GROUP,
      'membrane-cli.',
      [READ, AclOperationTypes.DELETE],
      ResourcePatternTypes.PREFIXED,
    );
    const result = await runCli(['quarantine', 'replay', '--all'], s.env());
    expect(result.code, result.stderr).toBe(77);
    expect(report(result)).toBe(
      [
        `membrane: membrane quarantine replay is not authorised to use transactional ID membrane-replay.${q} (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).`,
        `  What to do: allow the principal membrane connects as (User:${s.user()}) DESCRIBE and WRITE on transactional ID membrane-replay.${q}.`,
      ].join('\n'),
    );
  });
});

/**
 * The README's list ("ACLs membrane needs"), granted operation by operation and nothing
 * more, is enough: `run` translates and commits, `status` shows the lag, the quarantine
 * commands read, resolve and replay. A missing entry would fail one of these with exit 77.
 */
describe("the README's ACLs, and only those", () => {
  const s = useRestricted();

  it('let run, status, quarantine list, resolve and replay do their work', async () => {
    const topics = s.ctx.topics();
    const { PREFIXED } = ResourcePatternTypes;
    const { TRANSACTIONAL_ID } = AclResourceTypes;
    // run
    await s.grant(TOPIC, topics.input, [READ, DESCRIBE, DESCRIBE_CONFIGS]);
    for (const topic of [topics.placed, topics.cancelled, topics.quarantine])
      await s.grant(TOPIC, topic, [WRITE, DESCRIBE, DESCRIBE_CONFIGS, CREATE]);
    await s.grant(TOPIC, `${topics.group}.`, [CREATE, DESCRIBE, READ, WRITE], PREFIXED);
    await s.grant(GROUP, topics.group, [READ, DESCRIBE]);
    await s.grant(GROUP, `${topics.group}.restore.`, [READ, AclOperationTypes.DELETE], PREFIXED);
    await s.grant(TRANSACTIONAL_ID, `${topics.group}.`, [WRITE, DESCRIBE], PREFIXED);
    // status and the quarantine commands
    await s.grant(TOPIC, topics.quarantine, [READ]);
    await s.grant(TOPIC, `${topics.quarantine}.resolutions`, [DESCRIBE, READ, WRITE, CREATE]);
    await s.grant(GROUP, 'membrane-cli.', [READ, AclOperationTypes.DELETE], PREFIXED);
    await s.grant(TRANSACTIONAL_ID, `membrane-replay.${topics.quarantine}`, [WRITE, DESCRIBE]);

    const membrane = spawnCli(['run'], s.env());
    const committed = committedOf(() => s.ctx.admin(), topics.group, topics.input);
    await until('all 10 committed', async () => (await committed()) >= 10, [membrane]);
    membrane.child.kill('SIGTERM');
    expect(await membrane.exited, membrane.output()).toBe(0);

    const status = await runCli(['status'], s.env());
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^total lag 0$/m);
    expect(status.stdout).toMatch(/unresolved of 3 quarantine records/);

    const list = await runCli(['quarantine', 'list', '--json'], s.env());
    expect(list.code, list.stderr).toBe(0);
    const refs = list.stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { ref: string }).ref);
    expect(refs).toHaveLength(3);

    const resolve = await runCli(
      ['quarantine', 'resolve', refs[0] ?? '', '--reason', 'known junk'],
      s.env(),
    );
    expect(resolve.code, resolve.stderr).toBe(0);
    // The other two still fail the same mapping: replayed, re-quarantined, exit 2.
    const replay = await runCli(['quarantine', 'replay', '--all'], s.env());
    expect(replay.code, replay.stderr).toBe(2);
    expect(replay.stdout).toMatch(/^0 replayed, 0 dropped by the mapping, 2 still failing/m);
  });
});
