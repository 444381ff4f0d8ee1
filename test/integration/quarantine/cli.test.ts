import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { describeValue } from '../../../src/cli/commands/quarantine/show.js';
import { deterministicId, eventKeyFromId, mappingNamespace } from '../../../src/core/ids.js';
import { waitFor } from '../../../src/infra/wait.js';
import type { CliResult } from '../../support/cli.js';
import { consumeUntil, infra, testConsumer, uniqueName } from '../../support/kafka.js';
import { spawnCli } from '../../support/membrane-process.js';
import {
  orderKind,
  orderMessages,
  useOrderTopics,
  type OrderTopics,
} from '../../support/orders.js';
import { header, runUntilCommitted } from '../../support/runtime.js';
import { runInProcess } from './in-process.js';

const N = 200;
const kinds = Array.from({ length: N }, (_, i) => orderKind(i));
const indexes = (kind: string): number[] => kinds.flatMap((k, i) => (k === kind ? [i] : []));

interface Listed {
  ref: string;
  code: string;
  stage: string;
  attempt: number;
  key: string | null;
  source: { offset: string };
  resolution: { status: string; reason?: string } | null;
}

describe('membrane quarantine', () => {
  const ctx = useOrderTopics(2);
  const { kafka } = ctx;
  let admin: Admin;
  let topics: OrderTopics;
  let env: NodeJS.ProcessEnv;

  const saved = { ...process.env };
  // In this process (see in-process.ts): a new Node process per command would cost this file
  // its time budget. The replay killed half-way below is a process of its own.
  const cli = (args: string[]): Promise<CliResult> => runInProcess(['quarantine', ...args]);
  const list = async (args: string[] = []): Promise<Listed[]> => {
    const result = await cli(['list', '--json', ...args]);
    expect(result.code, result.stderr).toBe(0);
    return result.stdout.trim() === ''
      ? []
      : result.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Listed);
  };
  const endOf = async (topic: string): Promise<number> =>
    (await admin.fetchTopicOffsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);

  afterAll(() => {
    process.env = saved;
  });

  beforeAll(async () => {
    admin = ctx.admin();
    topics = ctx.topics();
    env = ctx.env({ PATH: process.env['PATH'], LOG_LEVEL: 'silent' });
    process.env = { ...saved, ...env };
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: topics.input, messages: orderMessages(0, N) });
    await producer.disconnect();
    await runUntilCommitted(env, admin, topics.group, topics.input, N);
  });

  it('lists and counts exactly what the filters select', async () => {
    const all = await list();
    expect(all).toHaveLength(
      indexes('bad-signature').length +
        indexes('not-json').length +
        indexes('unknown-status').length,
    );
    expect((await list(['--code', 'trust.*'])).map((r) => r.code)).toEqual(
      indexes('bad-signature').map(() => 'trust.signature-invalid'),
    );
    expect(await list(['--code', 'map.*'])).toHaveLength(indexes('unknown-status').length);
    expect((await list(['--stage', 'decode'])).every((r) => r.code === 'decode.invalid-json')).toBe(
      true,
    );
    expect(await list(['--stage', 'decode'])).toHaveLength(indexes('not-json').length);
    expect(await list(['--mapping', 'legacy-orders@3'])).toHaveLength(all.length);
    expect(await list(['--mapping', 'wms-stock'])).toHaveLength(0);
    expect(await list(['--since', '1h'])).toHaveLength(all.length);
    expect(await list(['--until', '1h'])).toHaveLength(0);
    const key = all[0]?.key ?? '';
    expect(await list(['--key', key])).toEqual(all.filter((r) => r.key === key));
    expect(await list(['--limit', '3'])).toEqual(all.slice(0, 3));

    const table = await cli(['list', '--code', 'trust.*']);
    expect(table.stdout).toMatch(
      /^REF\s+QUARANTINED\s+CODE\s+MAPPING\s+SOURCE\s+KEY\s+ATTEMPT\s+STATE\s+REASON$/m,
    );
    expect(table.stdout).toMatch(
      new RegExp(`^${indexes('bad-signature').length} record\\(s\\)$`, 'm'),
    );

    const stats = JSON.parse((await cli(['stats', '--json'])).stdout) as {
      total: number;
      code: Record<string, number>;
    };
    expect(stats.total).toBe(all.length);
    expect(stats.code).toEqual({
      'trust.signature-invalid': indexes('bad-signature').length,
      'decode.invalid-json': indexes('not-json').length,
      'map.unknown-code': indexes('unknown-status').length,
    });
  });

  it('shows one record in full: JSON pretty-printed, garbage as hex, Avro decoded through the registry', async () => {
    const [json] = await list(['--code', 'map.unknown-code', '--limit', '1']);
    const shown = await cli(['show', json?.ref ?? '']);
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toContain('map.unknown-code at status');
    expect(shown.stdout).toContain('value, JSON\n{\n  "event_id"');
    const [garbage] = await list(['--code', 'decode.invalid-json', '--limit', '1']);
    const hex = await cli(['show', garbage?.ref ?? '']);
    expect(hex.stdout).toMatch(/value, bytes \(\d+\)\n00000000 {2}7b 22 6f 72 64 65 72 5f/);
    expect((await cli(['show', '9:999999'])).code).toBe(1);

    const registry = new ConfluentRegistryPort({ url: infra().registryUrl });
    const schema = avro.Type.forSchema({
      type: 'record',
      name: 'Shown',
      fields: [{ name: 'sku', type: 'string' }],
    });
    const id = await registry.register(`${uniqueName('shown')}-value`, schema);
    const body = schema.toBuffer({ sku: 'SKU-1' });
    const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), body]);
    framed.writeInt32BE(id, 1);
    expect(await describeValue(framed, registry)).toEqual({
      format: `Avro (schema ${id}, Shown)`,
      text: '{\n  "sku": "SKU-1"\n}',
      value: { sku: 'SKU-1' },
    });
  });

  it('after a fix, replays exactly what now passes, with first-time IDs, once — even when killed half-way', async () => {
    // Version 4 of the mapping knows status Q.
    const file = join(topics.mappings, 'legacy-orders.yaml');
    await writeFile(
      file,
      (await readFile(file, 'utf8'))
        .replace('version: 3', 'version: 4')
        .replace('lookup: { N: NEW, P: PAID }', 'lookup: { N: NEW, P: PAID, Q: NEW }'),
    );

    const before = await endOf(topics.placed);
    const dry = await cli(['replay', '--all', '--dry-run']);
    expect(dry.code).toBe(2); // some still fail
    expect(dry.stdout).toMatch(
      new RegExp(
        `^${indexes('unknown-status').length} would be replayed, 0 dropped by the mapping, ${indexes('bad-signature').length + indexes('not-json').length} still failing`,
        'm',
      ),
    );
    expect(dry.stdout).toContain('would pass → ' + topics.placed);
    // What each would produce: the translated record, status Q now read as NEW.
    expect(dry.stdout).toMatch(
      /^ {6}\{"orderId":"o-\d+","customerId":"K-\d","totalCents":1990,.*"status":"NEW"/m,
    );
    expect(dry.stdout).toMatch(/still fails: trust\.signature-invalid at headers\.x-signature/);
    expect(await endOf(topics.placed)).toBe(before);

    // Killed half-way: one record per transaction, slowly; SIGKILL after a few committed.
    const slow = spawnCli(
      ['quarantine', 'replay', '--code', 'map.*', '--rate', '4', '--chunk', '1'],
      env,
    );
    const partly = await waitFor(
      async () => {
        if ((await list(['--code', 'map.*', '--resolved'])).length < 2) throw new Error('not yet');
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(partly.ok, slow.output()).toBe(true);
    slow.child.kill('SIGKILL');
    await slow.exited;
    expect((await list(['--code', 'map.*'])).length).toBeGreaterThan(0);

    const rest = await cli(['replay', '--code', 'map.*']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(await list(['--code', 'map.*'])).toHaveLength(0);
    const again = await cli(['replay', '--code', 'map.*']);
    expect(again.stdout).toMatch(
      /^0 replayed, 0 dropped by the mapping, 0 still failing, 0 skipped$/m,
    );

    // Their outputs are out: unresolve leaves them resolved unless --force.
    const n = indexes('unknown-status').length;
    const kept = await cli(['unresolve', '--code', 'map.*']);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toBe(
      `Unresolved 0 record(s).\n${n} record(s) resolved by a replay left resolved: their outputs are written (or the mapping dropped them, or a newer quarantine record supersedes them), and a second replay would write them again; --force takes them back too.\n`,
    );
    const forced = await cli(['unresolve', '--code', 'map.*', '--force', '--dry-run']);
    expect(forced.stdout).toMatch(
      new RegExp(`\n${n} record\\(s\\) would be unresolved — nothing written \\(dry run\\)\n$`),
    );
    expect(await list(['--code', 'map.*'])).toHaveLength(0);

    const replayed = (
      await consumeUntil(
        testConsumer(kafka),
        [topics.placed],
        (r) =>
          r.filter((m) => header(m, 'membrane.replay.of')).length >=
          indexes('unknown-status').length,
      )
    ).filter((m) => header(m, 'membrane.replay.of'));
    expect(replayed).toHaveLength(indexes('unknown-status').length);
    const ns = mappingNamespace('legacy-orders');
    expect(replayed.map((m) => header(m, 'membrane.id')).sort()).toEqual(
      indexes('unknown-status')
        .map((i) => deterministicId(ns, eventKeyFromId('legacy-erp', `e-${i}`), 0))
        .sort(),
    );
    expect(new Set(replayed.map((m) => header(m, 'membrane.replay.of'))).size).toBe(
      replayed.length,
    );
    expect(
      replayed.every(
        (m) =>
          header(m, 'membrane.mapping') === 'legacy-orders@4' &&
          header(m, 'membrane.replay.count') === '1',
      ),
    ).toBe(true);
  });

  it('keeps what still fails unresolved, with its attempt raised and its new reason; resolve marks junk with a reason', async () => {
    const replayAll = await cli(['replay', '--all']);
    expect(replayAll.code).toBe(2);
    const failing = await list();
    expect(failing).toHaveLength(indexes('bad-signature').length + indexes('not-json').length);
    expect(failing.every((r) => r.attempt === 2)).toBe(true);
    expect(new Set(failing.map((r) => r.code))).toEqual(
      new Set(['trust.signature-invalid', 'decode.invalid-json']),
    );
    expect(
      (await list(['--all', '--code', 'trust.*'])).filter(
        (r) => r.resolution?.status === 'superseded',
      ),
    ).toHaveLength(indexes('bad-signature').length);

    const resolved = await cli([
      'resolve',
      '--code',
      'trust.*',
      '--reason',
      'forged in a penetration test',
    ]);
    expect(resolved.stdout).toBe(
      `Resolved ${indexes('bad-signature').length} record(s): forged in a penetration test\n`,
    );
    expect(await list(['--code', 'trust.*'])).toHaveLength(0);
    expect(
      (await list(['--resolved', '--code', 'trust.*'])).some(
        (r) => r.resolution?.reason === 'forged in a penetration test',
      ),
    ).toBe(true);
  });
});
