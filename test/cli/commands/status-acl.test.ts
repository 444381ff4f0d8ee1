/**
 * An ACL refusal after the first connection is a permission fault (exit 77, one
 * sentence), as the README's exit codes promise for every command ("an ACL refused membrane
 * (`*_AUTHORIZATION_FAILED`, also while running)"). Found: `membrane status` (and the
 * quarantine commands, through withQuarantine) pass kafkajs's error through untranslated, so a
 * principal without Describe on the group gets "unexpected error (a bug; please report it)"
 * with a stack, exit 70. reachKafka only asks for metadata, which needs no ACL.
 */
import { KafkaJSProtocolError } from 'kafkajs';
import { afterEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../../src/adapters/kafka/connection.js', async (importOriginal) => {
  const original =
    await importOriginal<typeof import('../../../src/adapters/kafka/connection.js')>();
  return {
    ...original,
    reachKafka: () => Promise.resolve({ clusterId: 'c', brokers: [], controller: null }),
  };
});

vi.mock('../../../src/adapters/kafka/client.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../../src/adapters/kafka/client.js')>();
  const refused = (): Promise<never> =>
    Promise.reject(
      // What kafkajs builds from the broker's error code 30 (its typings say Error | string).
      new KafkaJSProtocolError(
        Object.assign(new Error('Not authorized to access group'), {
          type: 'GROUP_AUTHORIZATION_FAILED',
          code: 30,
          retriable: false,
        }),
      ),
    );
  const admin = {
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    describeGroups: refused,
    fetchOffsets: refused,
    fetchTopicOffsets: refused,
    fetchTopicMetadata: refused,
    listTopics: refused,
  };
  return { ...original, createKafka: () => ({ admin: () => admin }) };
});

const { statusCommand } = await import('../../../src/cli/commands/status.js');
const { reportError } = await import('../../../src/cli/errors.js');
const { withQuarantine } = await import('../../../src/cli/commands/quarantine/common.js');

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
});

describe('membrane status refused by an ACL', () => {
  it('exits 77 with one sentence, not 70 with a stack', async () => {
    process.env['KAFKA_BROKERS'] = '127.0.0.1:9092';
    process.env['SCHEMA_REGISTRY_URL'] = 'http://127.0.0.1:8081';
    const error: unknown = await statusCommand()
      .parseAsync(['node', 'status'])
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const written: string[] = [];
    const stream = {
      write: (text: string) => written.push(text),
    } as unknown as NodeJS.WriteStream;
    expect(reportError(error, stream)).toBe(77);
    expect(written.join('')).not.toMatch(/\n\s+at /);
    expect(written.join('')).toMatch(
      /^membrane: membrane status is not authorised to use group membrane, groups prefixed `membrane-cli\.` \(GROUP_AUTHORIZATION_FAILED\)\.\n {2}What to do: allow the principal membrane connects as DESCRIBE on group membrane; READ and DELETE on groups prefixed `membrane-cli\.`\.\n$/,
    );
  });
});

describe('the quarantine commands refused by an ACL', () => {
  it('end in kafka.authorization (exit 77), not an unexpected error', async () => {
    process.env['KAFKA_BROKERS'] = '127.0.0.1:9092';
    process.env['SCHEMA_REGISTRY_URL'] = 'http://127.0.0.1:8081';
    const error: unknown = await withQuarantine(
      { name: 'membrane quarantine list', access: 'read' },
      ({ admin }) => admin.fetchTopicOffsets('membrane.quarantine'),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as { code?: unknown }).code).toBe('kafka.authorization');
    const written: string[] = [];
    const stream = {
      write: (text: string) => written.push(text),
    } as unknown as NodeJS.WriteStream;
    expect(reportError(error, stream)).toBe(77);
    // The group kind of ACL this command needs, named: its throwaway restore groups.
    expect(written.join('')).toBe(
      'membrane: membrane quarantine list is not authorised to use groups prefixed `membrane-cli.` (GROUP_AUTHORIZATION_FAILED).\n' +
        '  What to do: allow the principal membrane connects as READ and DELETE on groups prefixed `membrane-cli.`.\n',
    );
  });
});
