import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { encodeQuarantine, type QuarantineEntry } from '../../../src/adapters/quarantine/codec.js';
import type { IssueCode, Stage } from '../../../src/core/issues.js';
import { runCli, type CliResult } from '../../support/cli.js';
import { createTopics, infra, testKafka, uniqueName } from '../../support/kafka.js';
import { runInProcess } from './in-process.js';

/**
 * The quarantine commands that write — resolve, replay, unresolve — against a real broker:
 * they refuse to act on the whole quarantine unless told `--all`, show before they write
 * (`--dry-run`), and a resolution can be taken back, the newest marker winning. `status` and
 * `quarantine stats` count the same records in the same words.
 *
 * Seeded directly with the codec (no membrane run): fast, and every record's fate is known.
 */

const SOURCE_TIMESTAMP = '1795327782602'; // 2026-11-22T06:09:42.602Z

interface Seed {
  readonly code: IssueCode;
  readonly stage: Stage;
  readonly message: string;
  readonly value: Buffer;
}

const SEEDS: readonly Seed[] = [
  ...[1, 2, 3].map((i): Seed => ({
    code: 'map.unknown-code',
    stage: 'map',
    message: `"Q" is not in the code table of status (known: N, P) #${i}`,
    value: Buffer.from(JSON.stringify({ event_id: `e-${i}`, status: 'Q', n: i })),
  })),
  ...[4, 5].map((i): Seed => ({
    code: 'trust.signature-invalid',
    stage: 'trust',
    message: 'the signature does not match',
    value: Buffer.from(JSON.stringify({ event_id: `e-${i}` })),
  })),
  {
    code: 'decode.invalid-json',
    stage: 'decode',
    message: 'Unexpected end of JSON input',
    value: Buffer.from([0x7b, 0x22, 0xff, 0x00]),
  },
];

function entry(i: number, seed: Seed): QuarantineEntry {
  return {
    source: { topic: 'erp.orders', partition: 0, offset: String(i), timestamp: SOURCE_TIMESTAMP },
    mapping: 'legacy-orders@3',
    stage: seed.stage,
    issues: [{ code: seed.code, path: 'status', message: seed.message }],
    id: undefined,
    quarantinedAt: `2026-11-22T06:09:0${i}.000Z`,
    attempt: 1,
  };
}

interface Listed {
  ref: string;
  code: string;
  resolution: { status: string; by: string; reason?: string } | null;
}

describe('membrane quarantine guardrails', () => {
  const kafka = testKafka();
  let admin: Admin;
  let topic: string;
  let input: string;
  let group: string;
  let drop: () => Promise<void>;
  let env: NodeJS.ProcessEnv;
  const saved = { ...process.env };

  const cli = (args: string[]): Promise<CliResult> => runInProcess(['quarantine', ...args]);
  const ok = async (args: string[]): Promise<string> => {
    const result = await cli(args);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout;
  };
  const list = async (args: string[]): Promise<Listed[]> =>
    (await ok(['list', '--json', ...args]))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Listed);
  /** Records in the resolutions topic so far: what a command wrote, or that it wrote nothing. */
  const markers = async (): Promise<number> =>
    (await admin.listTopics()).includes(`${topic}.resolutions`)
      ? (await admin.fetchTopicOffsets(`${topic}.resolutions`)).reduce(
          (sum, p) => sum + Number(p.high),
          0,
        )
      : 0;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topic = uniqueName('guardrails-quarantine');
    input = uniqueName('guardrails-input');
    group = uniqueName('guardrails-group');
    drop = await createTopics(admin, [{ topic }, { topic: input, numPartitions: 2 }]);
    env = {
      ...saved,
      LOG_LEVEL: 'silent',
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      MEMBRANE_QUARANTINE_TOPIC: topic,
      MEMBRANE_GROUP_ID: group,
    };
    // The commands run in this process (see in-process.ts) and read their configuration here.
    process.env = { ...env };
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic,
      messages: [
        ...SEEDS.map((seed, i) =>
          encodeQuarantine(
            { key: Buffer.from(`o-${i}`), value: seed.value, headers: {} },
            entry(i, seed),
          ),
        ),
        // Something else wrote to the quarantine topic: not a quarantine record.
        { key: 'stray', value: 'not ours' },
      ],
    });
    // The group has read partition 0 of its input up to 2, and nothing of partition 1.
    await producer.send({
      topic: input,
      messages: [0, 1, 2].map((i) => ({ partition: 0, value: `r-${i}` })),
    });
    await producer.disconnect();
    await admin.setOffsets({
      groupId: group,
      topic: input,
      partitions: [{ partition: 0, offset: '2' }],
    });
  });

  afterAll(async () => {
    process.env = saved;
    await drop();
    await admin.deleteTopics({ topics: [`${topic}.resolutions`] }).catch(() => undefined);
    await admin.deleteGroups([group]).catch(() => undefined);
    await admin.disconnect();
  });

  it('resolve, replay and unresolve with no filter refuse in one sentence and write nothing', async () => {
    const refusals = [
      await cli(['resolve', '--reason', 'oops']),
      // One as its own process, through src/cli/main.ts: the exit code a shell sees.
      await runCli(['quarantine', 'replay'], env),
      await cli(['unresolve']),
    ];
    const verbs = ['resolve', 'replay', 'unresolve'];
    refusals.forEach((result, i) => {
      const verb = verbs[i] ?? '';
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        `membrane: Nothing says which records to ${verb}: give a filter (--code, --stage, --mapping, --topic, --partition, --key, --since or --until), quarantine refs (partition:offset), or --all to ${verb} every ${verb === 'unresolve' ? 'resolved' : 'unresolved'} record.\n  What to do: see first what a filter selects with \`membrane quarantine list${verb === 'unresolve' ? ' --resolved' : ''}\` and that filter.\n`,
      );
    });
    expect(await markers()).toBe(0);
    expect(await list([])).toHaveLength(SEEDS.length);
  });

  it('resolve --dry-run shows the rows list shows and writes nothing; then resolve writes them', async () => {
    const listed = await ok(['list', '--code', 'map.*']);
    const dry = await ok(['resolve', '--code', 'map.*', '--reason', 'known junk', '--dry-run']);
    const rows = listed.split('\n').slice(0, 4).join('\n');
    expect(rows).toMatch(
      /^REF\s+QUARANTINED\s+CODE\s+MAPPING\s+SOURCE\s+KEY\s+ATTEMPT\s+STATE\s+REASON$/m,
    );
    expect(rows).toMatch(
      / unresolved {2}"Q" is not in the code table of status \(known: N, P\) #1$/m,
    );
    expect(dry).toBe(
      `${rows}\n3 record(s) would be resolved: known junk — nothing written (dry run)\n`,
    );
    expect(await markers()).toBe(0);

    expect(await ok(['resolve', '--code', 'map.*', '--reason', 'known junk'])).toBe(
      'Resolved 3 record(s): known junk\n',
    );
    expect(await markers()).toBe(3);
    expect(await list(['--code', 'map.*'])).toEqual([]);
  });

  it('status and stats agree: unresolved of total, in words, and no raw -1', async () => {
    const stats = await ok(['stats']);
    const statsJson = await ok(['stats', '--json']);
    const status = await runInProcess(['status']);
    const statusJson = await runInProcess(['status', '--json']);
    const line =
      '3 unresolved of 6 quarantine records (and 1 record that is not a quarantine record)';
    expect(stats.split('\n')[0]).toBe(line);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`\nquarantine ${topic}: ${line}\n`);
    expect(status.stdout).toMatch(/^CODE\s+UNRESOLVED\s+TOTAL$/m);
    expect(status.stdout).toMatch(/^trust\.signature-invalid\s+2\s+2$/m);
    expect(status.stdout).toMatch(/^map\.unknown-code\s+0\s+3$/m);
    expect(status.stdout).toMatch(new RegExp(`^${input}\\s+0\\s+2\\s+3\\s+1$`, 'm'));
    expect(status.stdout).toMatch(new RegExp(`^${input}\\s+1\\s+none committed\\s+0\\s+0$`, 'm'));
    expect(status.stdout).not.toMatch(/(^|\s)-1(\s|$)/m);

    expect(JSON.parse(statsJson)).toMatchObject({
      total: 6,
      unresolved: 3,
      resolved: 3,
      selected: 3,
      notQuarantine: 1,
      code: { 'trust.signature-invalid': 2, 'decode.invalid-json': 1 },
    });
    const parsed = JSON.parse(statusJson.stdout) as {
      partitions: { partition: number; committed: number | null }[];
      quarantine: unknown;
    };
    expect(parsed.partitions.map((p) => p.committed)).toEqual([2, null]);
    expect(parsed.quarantine).toEqual({
      topic,
      unresolved: 3,
      total: 6,
      notQuarantine: 1,
      codes: {
        'trust.signature-invalid': { unresolved: 2, total: 2 },
        'decode.invalid-json': { unresolved: 1, total: 1 },
        'map.unknown-code': { unresolved: 0, total: 3 },
      },
    });
  });

  it('unresolve takes resolutions back, the newest marker wins, and a replay’s resolution needs --force', async () => {
    const [first, second, third] = (await list(['--resolved'])).map((r) => r.ref);
    expect(third).toBeDefined();
    const dry = await ok(['unresolve', first ?? '', second ?? '', '--dry-run']);
    expect(dry).toMatch(/^REF\s+QUARANTINED.*REASON$/m);
    expect(dry).toMatch(/\n2 record\(s\) would be unresolved — nothing written \(dry run\)\n$/);
    const before = await markers();

    expect(await ok(['unresolve', '--code', 'map.*', '--until', '2026-11-22T06:09:01Z'])).toBe(
      'Unresolved 2 record(s).\n',
    );
    expect(await markers()).toBe(before + 2);
    expect((await list(['--code', 'map.*'])).map((r) => r.ref)).toEqual([first, second]);
    // Resolved again after the unresolve: the newest marker wins.
    await ok(['resolve', first ?? '', '--reason', 'junk after all']);
    expect((await list(['--code', 'map.*'])).map((r) => r.ref)).toEqual([second]);
    expect((await list(['--resolved', '--code', 'map.*']))[0]?.resolution?.reason).toBe(
      'junk after all',
    );

    // A marker as a replay writes it: that record's outputs are out.
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({
      topic: `${topic}.resolutions`,
      messages: [
        {
          key: `${topic}/${third ?? ''}`,
          value: JSON.stringify({
            status: 'resolved',
            by: 'replay',
            at: '2026-11-22T07:00:00.000Z',
            outputs: ['9ae9c8e2-0466-588b-b6fc-4022ceaa474a'],
          }),
        },
      ],
    });
    await producer.disconnect();
    expect(await ok(['unresolve', third ?? ''])).toBe(
      'Unresolved 0 record(s).\n1 record(s) resolved by a replay left resolved: their outputs are written (or the mapping dropped them, or a newer quarantine record supersedes them), and a second replay would write them again; --force takes them back too.\n',
    );
    expect(await list(['--code', 'map.*'])).toHaveLength(1);
    expect(await ok(['unresolve', third ?? '', '--force', '--json'])).toBe(
      `${JSON.stringify({ unresolved: 1, refs: [third], left: [] })}\n`,
    );
    expect((await list(['--code', 'map.*'])).map((r) => r.ref)).toEqual([second, third]);
  });

  it('show: the source timestamp as ISO 8601; --json: the decoded value as JSON, the bytes beside it', async () => {
    const ref = (await list(['--code', 'trust.*', '--limit', '1']))[0]?.ref ?? '';
    const garbage = (await list(['--code', 'decode.*']))[0]?.ref ?? '';
    const shown = await ok(['show', ref]);
    const shownJson = await ok(['show', ref, '--json']);
    const garbageJson = await ok(['show', garbage, '--json']);
    expect(shown).toContain(
      '  source       erp.orders partition 0 offset 3 (timestamp 2026-11-22T06:09:42.602Z)\n',
    );
    expect(shown).not.toContain(SOURCE_TIMESTAMP);
    expect(JSON.parse(shownJson)).toMatchObject({
      source: { timestamp: SOURCE_TIMESTAMP, time: '2026-11-22T06:09:42.602Z' },
      value: { event_id: 'e-4' },
      valueFormat: 'JSON',
      valueBytes: '{"event_id":"e-4"}',
    });
    expect(JSON.parse(garbageJson)).toMatchObject({
      value: null,
      valueFormat: 'bytes (4)',
      valueBytes: { base64: Buffer.from([0x7b, 0x22, 0xff, 0x00]).toString('base64') },
    });
  });
});
