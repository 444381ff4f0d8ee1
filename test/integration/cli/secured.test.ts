import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Admin } from 'kafkajs';
import { beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../../src/infra/wait.js';
import { runCli, type CliResult } from '../../support/cli.js';
import { spawnCli } from '../../support/membrane-process.js';
import {
  expectOrdersTranslatedOnce,
  orderKind,
  orderMessages,
  useOrderTopics,
  type OrderTopics,
} from '../../support/orders.js';
import { committedTotal } from '../../support/runtime.js';
import { secureEnv, secureListener } from '../../support/secure.js';

const N = 60;
const kinds = Array.from({ length: N }, (_, i) => orderKind(i));
const count = (...of: string[]): number => kinds.filter((k) => of.includes(k)).length;

/** What membrane wrote to stderr for the user, without pino's JSON log lines. */
function report(result: CliResult): string {
  return result.stderr
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('{'))
    .join('\n');
}

/**
 * Every membrane command that talks to Kafka, through the local broker's SASL_SSL listener
 * (TLS with the instance's throwaway CA, SCRAM-SHA-512) configured only by membrane's own
 * variables: KAFKA_SSL, KAFKA_SSL_CA_FILE, KAFKA_SASL_MECHANISM/USERNAME/PASSWORD.
 */
describe('membrane through a SASL_SSL listener', () => {
  const ctx = useOrderTopics(2);
  let admin: Admin;
  let topics: OrderTopics;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    admin = ctx.admin();
    topics = ctx.topics();
    env = secureEnv(ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'warn' }));
    // Written over the plaintext listener: the same topic, so only membrane's side is secured.
    const producer = ctx.kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();
  });

  it('doctor checks the broker with TLS and SCRAM (and with a client certificate)', async () => {
    const listener = secureListener();
    const doctor = await runCli(['doctor'], env);
    expect(doctor.code, doctor.stderr).toBe(0);
    expect(doctor.stdout).toMatch(
      new RegExp(`^ok {4}Kafka ${listener.brokers.join(',')}: cluster \\S+, 1 broker\\(s\\)$`, 'm'),
    );

    const mtls = await runCli(
      ['doctor'],
      secureEnv(env, {
        KAFKA_SSL_CERT_FILE: listener.clientCertFile,
        KAFKA_SSL_KEY_FILE: listener.clientKeyFile,
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
      }),
    );
    expect(mtls.code, mtls.stderr).toBe(0);
  });

  it('run translates every order exactly once, then stops cleanly on SIGTERM', async () => {
    const membrane = spawnCli(['run'], env);
    const done = await waitFor(
      async () => {
        if (membrane.child.exitCode !== null) throw new Error('membrane exited');
        if ((await committedTotal(admin, topics.group, topics.input)) < N)
          throw new Error('not yet');
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    expect(done.ok, membrane.output()).toBe(true);
    membrane.child.kill('SIGTERM');
    expect(await membrane.exited, membrane.output()).toBe(0);
    await expectOrdersTranslatedOnce(ctx.kafka, topics, N);
  });

  it('status shows the group caught up and the quarantine by code', async () => {
    const status = await runCli(['status', '--json'], env);
    expect(status.code, status.stderr).toBe(0);
    const parsed = JSON.parse(status.stdout) as {
      partitions: { lag: number }[];
      quarantined: Record<string, number>;
    };
    expect(parsed.partitions).toHaveLength(2);
    expect(parsed.partitions.every((p) => p.lag === 0)).toBe(true);
    expect(parsed.quarantined).toEqual({
      'trust.signature-invalid': count('bad-signature'),
      'decode.invalid-json': count('not-json'),
      'map.unknown-code': count('unknown-status'),
    });
  });

  it('quarantine list shows the records, and replay after a fix sends them on', async () => {
    const list = async (args: string[]): Promise<{ code: string }[]> => {
      const result = await runCli(['quarantine', 'list', '--json', ...args], env);
      expect(result.code, result.stderr).toBe(0);
      return result.stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { code: string });
    };
    expect(await list([])).toHaveLength(count('bad-signature', 'not-json', 'unknown-status'));
    expect(await list(['--code', 'map.*'])).toHaveLength(count('unknown-status'));

    // Version 4 of the mapping knows status Q: the map.* records now pass.
    const file = join(topics.mappings, 'legacy-orders.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8'))
        .replace('version: 3', 'version: 4')
        .replace('lookup: { N: NEW, P: PAID }', 'lookup: { N: NEW, P: PAID, Q: NEW }'),
    );
    const before = (await admin.fetchTopicOffsets(topics.placed)).reduce(
      (sum, p) => sum + Number(p.high),
      0,
    );
    const replay = await runCli(['quarantine', 'replay', '--code', 'map.*'], env);
    expect(replay.code, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(new RegExp(`^${count('unknown-status')} replayed`, 'm'));
    expect(await list(['--code', 'map.*'])).toHaveLength(0);
    const after = (await admin.fetchTopicOffsets(topics.placed)).reduce(
      (sum, p) => sum + Number(p.high),
      0,
    );
    // Each replayed record, plus the transaction marker of the replay's transaction(s).
    expect(after - before).toBeGreaterThanOrEqual(count('unknown-status'));
  });

  // The same connection code serves every command: each fault through `run` and `doctor`,
  // refused credentials through `status` and `quarantine list` too.
  const faults: {
    name: string;
    overrides: Record<string, string | undefined>;
    commands: string[][];
    exit: number;
    names: RegExp;
  }[] = [
    {
      name: 'a wrong password',
      overrides: { KAFKA_SASL_PASSWORD: 'not-the-password' },
      commands: [['run'], ['doctor'], ['status'], ['quarantine', 'list']],
      exit: 77,
      names: /KAFKA_SASL_USERNAME|KAFKA_SASL_PASSWORD/,
    },
    {
      name: 'no CA file (the certificate is not trusted)',
      overrides: { KAFKA_SSL_CA_FILE: undefined },
      commands: [['run'], ['doctor']],
      exit: 78,
      names: /KAFKA_SSL_CA_FILE/,
    },
    {
      name: 'a mechanism the listener does not enable (PLAIN)',
      overrides: { KAFKA_SASL_MECHANISM: 'plain' },
      commands: [['run'], ['doctor']],
      exit: 78,
      names: /KAFKA_SASL_MECHANISM/,
    },
  ];
  for (const fault of faults) {
    it(`with ${fault.name}, ${fault.commands.map((c) => c.join(' ')).join(', ')} exit ${fault.exit} with one sentence naming the variable to fix`, async () => {
      const faulty = secureEnv(env, fault.overrides);
      const results = await Promise.all(fault.commands.map((args) => runCli(args, faulty)));
      for (const [i, result] of results.entries()) {
        const said = report(result);
        const what = `membrane ${fault.commands[i]?.join(' ') ?? ''}: ${result.stderr}`;
        expect(result.code, what).toBe(fault.exit);
        // One sentence and what to do (README, "When something is wrong"), no stack trace.
        expect(said, what).toMatch(/^membrane: [^\n]+\.\n {2}What to do: [^\n]+\.$/);
        expect(said, what).toMatch(fault.names);
      }
    });
  }
});
