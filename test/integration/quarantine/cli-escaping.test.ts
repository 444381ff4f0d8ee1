import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { encodeQuarantine, type QuarantineEntry } from '../../../src/adapters/quarantine/codec.js';
import type { CliResult } from '../../support/cli.js';
import { createTopics, infra, testKafka, uniqueName } from '../../support/kafka.js';
import { runInProcess } from './in-process.js';

/**
 * What an upstream producer controls reaches the operator's terminal escaped: `list`, `show`
 * and `stats` print no byte a terminal acts on, `--json` keeps the exact values.
 */

const ATTACK = '\x1b[2J\x1b[31mPWNED\x1b[0m\x07';
const ATTACK_SHOWN = '\\x1b[2J\\x1b[31mPWNED\\x1b[0m\\x07';
const TEXT_KEY = `order-${ATTACK}`;
const BINARY_KEY = Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0x28, 0x1b, 0x9b]);
const BINARY_KEY_SHOWN = '\\xff\\xfeA\\xc3(\\x1b\\x9b';
const BINARY_HEADER = Buffer.from([0x80, 0x07, 0x62]);
const VALUE = { event_id: 'e-1', note: `${ATTACK}\u009b31m\u202egnp.exe\u200b` };

/** ESC, BEL, CSI (U+009B): every C0, DEL and C1 control; bidi overrides and isolates; ZWSP. */
const RAW_CONTROL = /[\p{Cc}\u202a-\u202e\u2066-\u2069\u200b]/u;

/** A line of a two-column table: `cell`, then spaces, then `count`. */
const row = (cell: string, count: number): RegExp =>
  new RegExp(`^${cell.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} +${count}$`, 'm');

function entry(offset: string, message: string): QuarantineEntry {
  return {
    source: { topic: 'legacy.orders', partition: 0, offset, timestamp: '1767225600000' },
    mapping: 'legacy-orders@3',
    stage: 'map',
    issues: [{ code: 'map.unknown-code', path: 'status', message }],
    id: undefined,
    quarantinedAt: `2026-01-01T00:00:0${offset}.000Z`,
    attempt: 1,
  };
}

interface Listed {
  ref: string;
  key: string | { base64: string } | null;
  issues: { message: string }[];
}

describe('membrane quarantine: what upstream sent, on a terminal', () => {
  const kafka = testKafka();
  let admin: Admin;
  let topic: string;
  let drop: () => Promise<void>;
  const saved = { ...process.env };

  /** In this process (see in-process.ts): what it writes to stdout is what a terminal gets. */
  const cli = async (args: string[]): Promise<CliResult> => {
    const result = await runInProcess(['quarantine', ...args]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.replaceAll('\n', '')).not.toMatch(RAW_CONTROL);
    return result;
  };

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
    topic = uniqueName('escaping-quarantine');
    drop = await createTopics(admin, [{ topic }]);
    process.env = {
      ...saved,
      LOG_LEVEL: 'silent',
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      MEMBRANE_QUARANTINE_TOPIC: topic,
    };
    const text = encodeQuarantine(
      {
        key: Buffer.from(TEXT_KEY),
        value: Buffer.from(JSON.stringify(VALUE)),
        headers: { 'x-evil': ATTACK, [`x-${ATTACK}`]: 'named' },
      },
      entry('1', `unknown status "${ATTACK}\u009b"`),
    );
    const binary = encodeQuarantine(
      {
        key: BINARY_KEY,
        value: Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0xff]),
        headers: { 'x-binary': BINARY_HEADER },
      },
      entry('2', 'unknown status "Q"'),
    );
    const producer = kafka.producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic, messages: [text, binary] });
    await producer.disconnect();
  });

  afterAll(async () => {
    process.env = saved;
    await drop();
    await admin.deleteTopics({ topics: [`${topic}.resolutions`] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('list: escaped keys in aligned columns; --json: the exact keys', async () => {
    const { stdout } = await cli(['list']);
    const lines = stdout.split('\n');
    const header = lines[0] ?? '';
    expect(header).toMatch(
      /^REF\s+QUARANTINED\s+CODE\s+MAPPING\s+SOURCE\s+KEY\s+ATTEMPT\s+STATE\s+REASON$/,
    );
    // The KEY column is cut to 24 columns, between escapes.
    expect(lines[1]).toContain(' order-\\x1b[2J\\x1b[31mPW… ');
    expect(lines[2]).toContain(` ${BINARY_KEY_SHOWN} `);
    // Every row's ATTEMPT, STATE and REASON start under their headings; the reason, an issue
    // message quoting upstream text, escaped like every cell.
    for (const line of lines.slice(1, 3)) {
      expect(line.slice(header.indexOf('ATTEMPT'), header.indexOf('REASON'))).toMatch(
        /^1 +unresolved +$/,
      );
    }
    expect(lines[1]?.slice(header.indexOf('REASON'))).toBe(
      `unknown status "${ATTACK_SHOWN}\\u009b"`,
    );
    expect(lines[2]?.slice(header.indexOf('REASON'))).toBe('unknown status "Q"');
    expect(lines[3]).toBe('2 record(s)');

    const json = await cli(['list', '--json']);
    const listed = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Listed);
    expect(listed.map((r) => r.key)).toEqual([TEXT_KEY, { base64: BINARY_KEY.toString('base64') }]);
    expect(Buffer.from((listed[1]?.key as { base64: string }).base64, 'base64')).toEqual(
      BINARY_KEY,
    );
    expect(listed[0]?.issues[0]?.message).toBe(`unknown status "${ATTACK}\u009b"`);
    // C1 went out as a JSON escape, so the line is safe and the value the same.
    expect(json.stdout).toContain('\\u009b');
  });

  it('show: key, headers, issue message and value escaped; --json: the exact values', async () => {
    const [text, binary] = (await cli(['list', '--json'])).stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Listed);

    const shown = (await cli(['show', text?.ref ?? ''])).stdout;
    expect(shown).toContain(`\n  key          order-${ATTACK_SHOWN}\n`);
    expect(shown).toContain(`: unknown status "${ATTACK_SHOWN}\\u009b"\n`);
    expect(shown).toContain(`\n  x-evil: ${ATTACK_SHOWN}\n`);
    expect(shown).toContain(`\n  x-${ATTACK_SHOWN}: named\n`);
    expect(shown).toContain(
      `value, JSON\n{\n  "event_id": "e-1",\n  "note": "\\u001b[2J\\u001b[31mPWNED\\u001b[0m\\u0007\\u009b31m\\u202egnp.exe\\u200b"\n}\n`,
    );

    const shownJson = JSON.parse((await cli(['show', text?.ref ?? '', '--json'])).stdout) as {
      key: unknown;
      headers: Record<string, unknown>;
      value: unknown;
      valueBytes: unknown;
    };
    expect(shownJson.key).toBe(TEXT_KEY);
    expect(shownJson.headers).toEqual({ 'x-evil': ATTACK, [`x-${ATTACK}`]: 'named' });
    // The value itself, not a string of JSON; its exact bytes beside it.
    expect(shownJson.value).toEqual(VALUE);
    expect(shownJson.valueBytes).toBe(JSON.stringify(VALUE));

    const bytes = (await cli(['show', binary?.ref ?? ''])).stdout;
    expect(bytes).toContain(`\n  key          ${BINARY_KEY_SHOWN}\n`);
    expect(bytes).toContain('\n  x-binary: \\x80\\x07b\n');
    expect(bytes).toContain('value, bytes (5)\n00000000  1b 5b 32 4a ff');
    const bytesJson = JSON.parse((await cli(['show', binary?.ref ?? '', '--json'])).stdout) as {
      key: { base64: string };
      headers: Record<string, { base64: string }>;
      value: unknown;
      valueBytes: { base64: string };
    };
    expect(bytesJson.value).toBeNull();
    expect(Buffer.from(bytesJson.valueBytes.base64, 'base64')).toEqual(
      Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0xff]),
    );
    expect(Buffer.from(bytesJson.key.base64, 'base64')).toEqual(BINARY_KEY);
    expect(Buffer.from(bytesJson.headers['x-binary']?.base64 ?? '', 'base64')).toEqual(
      BINARY_HEADER,
    );
  });

  it('stats: the top keys escaped, each binary key counted apart', async () => {
    const { stdout } = await cli(['stats']);
    expect(stdout).toMatch(row(`order-${ATTACK_SHOWN}`, 1));
    expect(stdout).toMatch(row(BINARY_KEY_SHOWN, 1));
    const stats = JSON.parse((await cli(['stats', '--json'])).stdout) as {
      total: number;
      key: Record<string, number>;
    };
    expect(stats.total).toBe(2);
    expect(stats.key).toEqual({ [TEXT_KEY]: 1, [BINARY_KEY_SHOWN]: 1 });
  });
});
