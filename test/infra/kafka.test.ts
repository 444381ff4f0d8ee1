import { describe, expect, it } from 'vitest';
import { log4jProperties, newClusterId, serverProperties } from '../../src/infra/kafka.js';

function parse(properties: string): Map<string, string> {
  return new Map(
    properties
      .trim()
      .split('\n')
      .map((line) => {
        const at = line.indexOf('=');
        return [line.slice(0, at), line.slice(at + 1)] as const;
      }),
  );
}

describe('serverProperties', () => {
  const props = parse(serverProperties({ port: 19092, controllerPort: 19093, dataDir: '/tmp/k' }));

  it('runs one KRaft node as broker and controller on loopback only', () => {
    expect(props.get('process.roles')).toBe('broker,controller');
    expect(props.get('controller.quorum.voters')).toBe('1@127.0.0.1:19093');
    expect(props.get('listeners')).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(props.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:19092');
    expect(props.get('log.dirs')).toBe('/tmp/k');
  });

  it('makes consumer groups and transactions work on a single node', () => {
    expect(props.get('offsets.topic.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.replication.factor')).toBe('1');
    expect(props.get('transaction.state.log.min.isr')).toBe('1');
    expect(props.get('group.initial.rebalance.delay.ms')).toBe('0');
  });

  it('never auto-creates topics (a typo must not create a topic)', () => {
    expect(props.get('auto.create.topics.enable')).toBe('false');
  });
});

describe('newClusterId', () => {
  it('is 16 random bytes in base64url that StorageTool cannot mistake for an option', () => {
    const ids = new Set(Array.from({ length: 500 }, () => newClusterId()));
    expect(ids.size).toBe(500);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});

describe('log4jProperties', () => {
  it('logs to the console appender (redirected to the log file)', () => {
    expect(log4jProperties()).toContain('log4j.rootLogger=INFO, stdout');
  });
});
