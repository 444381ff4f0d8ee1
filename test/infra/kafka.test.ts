import { describe, expect, it } from 'vitest';
import {
  log4j2Properties,
  log4jProperties,
  newClusterId,
  serverProperties,
} from '../../src/infra/kafka.js';

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

describe('serverProperties with a secured listener', () => {
  const props = parse(
    serverProperties({
      port: 19092,
      controllerPort: 19093,
      dataDir: '/tmp/k',
      secure: {
        port: 19094,
        keystoreFile: '/tmp/tls/broker.p12',
        keystorePassword: 'abc123',
        truststoreFile: '/tmp/tls/ca.pem',
        username: 'membrane',
        password: 'secret',
        restrictedPassword: 'other',
      },
    }),
  );

  it('adds a SASL_SSL listener beside PLAINTEXT, which stays the inter-broker listener', () => {
    expect(props.get('listeners')).toBe(
      'PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094,CONTROLLER://127.0.0.1:19093',
    );
    expect(props.get('advertised.listeners')).toBe(
      'PLAINTEXT://127.0.0.1:19092,SASL_SSL://127.0.0.1:19094',
    );
    expect(props.get('listener.security.protocol.map')).toBe(
      'PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT',
    );
    expect(props.get('inter.broker.listener.name')).toBe('PLAINTEXT');
  });

  it('enables SCRAM and OAUTHBEARER (PLAIN is refused), on that listener alone', () => {
    expect(props.get('listener.name.sasl_ssl.sasl.enabled.mechanisms')).toBe(
      'SCRAM-SHA-512,SCRAM-SHA-256,OAUTHBEARER',
    );
    expect(props.get('listener.name.sasl_ssl.oauthbearer.sasl.jaas.config')).toBe(
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;',
    );
    expect(props.get('listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config')).toBe(
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    );
    expect(props.get('listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config')).toBe(
      'org.apache.kafka.common.security.scram.ScramLoginModule required;',
    );
    expect(props.has('sasl.enabled.mechanisms')).toBe(false);
  });

  it('serves TLS from the PKCS12 keystore and checks client certificates against the CA when sent', () => {
    expect(props.get('listener.name.sasl_ssl.ssl.keystore.type')).toBe('PKCS12');
    expect(props.get('listener.name.sasl_ssl.ssl.keystore.location')).toBe('/tmp/tls/broker.p12');
    expect(props.get('listener.name.sasl_ssl.ssl.keystore.password')).toBe('abc123');
    expect(props.get('listener.name.sasl_ssl.ssl.truststore.type')).toBe('PEM');
    expect(props.get('listener.name.sasl_ssl.ssl.truststore.location')).toBe('/tmp/tls/ca.pem');
    expect(props.get('listener.name.sasl_ssl.ssl.client.auth')).toBe('requested');
  });

  it('checks ACLs, with the plaintext listeners, the SCRAM user and the OAuth principal as super users', () => {
    expect(props.get('authorizer.class.name')).toBe(
      'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
    );
    expect(props.get('super.users')).toBe('User:ANONYMOUS;User:membrane;User:membrane-oauth');
  });

  it('without one, has no SASL or TLS settings and no authorizer at all', () => {
    const plain = serverProperties({ port: 1, controllerPort: 2, dataDir: '/d' });
    expect(plain).not.toMatch(/sasl|ssl|authorizer|super\.users/i);
  });

  it("for Kafka 4, replicates the share coordinator's state topic once, as one node can", () => {
    const four = parse(
      serverProperties({ port: 1, controllerPort: 2, dataDir: '/d', version: '4.1.2' }),
    );
    expect(four.get('share.coordinator.state.topic.replication.factor')).toBe('1');
    expect(four.get('share.coordinator.state.topic.min.isr')).toBe('1');
    const three = parse(
      serverProperties({ port: 1, controllerPort: 2, dataDir: '/d', version: '3.9.1' }),
    );
    expect(three.has('share.coordinator.state.topic.replication.factor')).toBe(false);
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

  it('has a log4j 2 twin for Kafka 4, with the same levels', () => {
    const props = parse(log4j2Properties());
    expect(props.get('rootLogger.level')).toBe('INFO');
    expect(props.get('rootLogger.appenderRef.stdout.ref')).toBe('STDOUT');
    expect(props.get('appender.stdout.type')).toBe('Console');
    const levels = new Map<string, string>();
    for (const [key, value] of props)
      if (key.endsWith('.name')) levels.set(value, props.get(key.replace(/name$/, 'level')) ?? '');
    expect(levels.get('state.change.logger')).toBe('WARN');
    expect(levels.get('kafka.request.logger')).toBe('WARN');
  });
});
