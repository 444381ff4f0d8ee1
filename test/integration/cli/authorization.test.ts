import {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  ResourcePatternTypes,
  type AclEntry,
} from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../support/cli.js';
import { orderMessages, useOrderTopics } from '../../support/orders.js';
import { restrictedUser, secureEnv } from '../../support/secure.js';

/** What membrane wrote to stderr for the user, without pino's JSON log lines. */
function report(result: CliResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
    .join('\n');
}

/**
 * One sentence, then what to grant (README, "When something is wrong"); no stack trace. `run`
 * says what it needs in general; `status` and the quarantine commands name the command and the
 * ACLs of the kind refused (README, "ACLs membrane needs").
 */
const REFUSED =
  /^membrane: membrane( status| quarantine \w+)? is not authorised [^\n]+\.\n {2}What to do: (grant the principal membrane connects as: |allow the principal membrane connects as (\(User:[^)]+\) )?[A-Z_]+ (and [A-Z_]+ )?on )[^\n]+\.$/;

/**
 * Credentials the cluster accepts, permissions it does not give: the local broker checks ACLs
 * (StandardAuthorizer) and knows a SCRAM user that no ACL grants anything. Every command
 * that talks to Kafka must say so in one sentence, with exit code 77, and say what to grant.
 */
describe('membrane authenticated but not authorised (real ACLs)', () => {
  const ctx = useOrderTopics(2);
  let env: NodeJS.ProcessEnv;
  let principal: string;
  const granted: AclEntry[] = [];

  beforeAll(async () => {
    const user = restrictedUser();
    principal = `User:${user.username}`;
    env = secureEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }), {
      KAFKA_SASL_USERNAME: user.username,
      KAFKA_SASL_PASSWORD: user.password,
    });
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: ctx.topics().input, messages: orderMessages(0, 5) });
    await producer.disconnect();
  });

  afterAll(async () => {
    // The ACLs live in the shared broker: leave none behind.
    if (granted.length > 0) await ctx.admin().deleteAcls({ filters: granted });
  });

  it('with no ACL at all, run, status and quarantine list exit 77 saying what to grant', async () => {
    const commands = [['run'], ['status'], ['quarantine', 'list']];
    const results = await Promise.all(commands.map((args) => runCli(args, env)));
    for (const [i, result] of results.entries()) {
      const what = `membrane ${commands[i]?.join(' ') ?? ''}: ${result.stderr}`;
      expect(result.code, what).toBe(77);
      expect(report(result), what).toMatch(REFUSED);
      expect(report(result), what).toMatch(/_AUTHORIZATION_FAILED/);
    }
  });

  it('with its topics and transactional IDs granted but not its consumer group, run exits 77 naming the group', async () => {
    const topics = ctx.topics();
    const acl = (
      resourceType: AclResourceTypes,
      resourceName: string,
      resourcePatternType: ResourcePatternTypes,
    ): AclEntry => ({
      resourceType,
      resourceName,
      resourcePatternType,
      principal,
      host: '*',
      operation: AclOperationTypes.ALL,
      permissionType: AclPermissionTypes.ALLOW,
    });
    const literal = ResourcePatternTypes.LITERAL;
    granted.push(
      ...[
        topics.input,
        topics.placed,
        topics.cancelled,
        topics.quarantine,
        `${topics.quarantine}.resolutions`,
      ].map((name) => acl(AclResourceTypes.TOPIC, name, literal)),
      // The state topics and transactional IDs start with the group ID.
      acl(AclResourceTypes.TOPIC, `${topics.group}.`, ResourcePatternTypes.PREFIXED),
      acl(AclResourceTypes.TRANSACTIONAL_ID, topics.group, ResourcePatternTypes.PREFIXED),
    );
    await ctx.admin().createAcls({ acl: granted });
    const result = await runCli(['run'], { ...env, MEMBRANE_CREATE_TOPICS: 'true' });
    expect(result.code, result.stderr).toBe(77);
    expect(report(result)).toMatch(REFUSED);
    expect(report(result)).toMatch(
      /not authorised to use its consumer group \(GROUP_AUTHORIZATION_FAILED\)/,
    );
    expect(report(result)).toMatch(/MEMBRANE_GROUP_ID/);
  });
});
