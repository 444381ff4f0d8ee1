import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InfraError } from './errors.js';
import type { InfraPaths } from './paths.js';
import { LOOPBACK } from './ports.js';
import { startDetached } from './processes.js';
import {
  OAUTH_PRINCIPAL,
  RESTRICTED_USERNAME,
  SCRAM_MECHANISMS,
  scramFormatArgs,
  SECURE_LISTENER,
} from './secure.js';

/** Marks our broker's JVM in `ps`/`/proc`, so a reused PID is never mistaken for it. */
export const KAFKA_MAIN_CLASS = 'kafka.Kafka';

/** A SASL_SSL listener beside the plaintext one: TLS from a keystore, SCRAM users. */
export interface SecureListenerSettings {
  readonly port: number;
  /** PKCS12 keystore holding the broker's certificate and key. */
  readonly keystoreFile: string;
  readonly keystorePassword: string;
  /** PEM CA certificates whose client certificates the listener accepts (mutual TLS). */
  readonly truststoreFile: string;
  /** The SCRAM user StorageTool creates when it formats the storage (a super user). */
  readonly username: string;
  readonly password: string;
  /** The password of RESTRICTED_USERNAME, a SCRAM user without any ACL. */
  readonly restrictedPassword: string;
}

export interface KafkaNodeSettings {
  readonly port: number;
  readonly controllerPort: number;
  readonly dataDir: string;
  readonly secure?: SecureListenerSettings;
  /** The Kafka release (default 3.9.1): 4.x needs settings of its own on a single node. */
  readonly version?: string;
}

/** The listener's own settings, prefixed `listener.name.sasl_ssl.` so nothing else gets them. */
function secureListenerEntries(secure: SecureListenerSettings): Record<string, string> {
  const prefix = `listener.name.${SECURE_LISTENER.toLowerCase()}.`;
  const entries: Record<string, string> = {
    'sasl.enabled.mechanisms': [...SCRAM_MECHANISMS, 'OAUTHBEARER'].join(','),
    // No server callback handler: Kafka validates unsecured JWS tokens (alg "none"), whose
    // `sub` is the principal. For local tests only: they are their own token endpoint.
    'oauthbearer.sasl.jaas.config':
      'org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;',
    'ssl.keystore.type': 'PKCS12',
    'ssl.keystore.location': secure.keystoreFile,
    'ssl.keystore.password': secure.keystorePassword,
    'ssl.key.password': secure.keystorePassword,
    'ssl.truststore.type': 'PEM',
    'ssl.truststore.location': secure.truststoreFile,
    // A client may present a certificate (then it must chain to the CA); SCRAM still decides who it is.
    'ssl.client.auth': 'requested',
  };
  for (const mechanism of SCRAM_MECHANISMS)
    entries[`${mechanism.toLowerCase()}.sasl.jaas.config`] =
      'org.apache.kafka.common.security.scram.ScramLoginModule required;';
  return Object.fromEntries(
    Object.entries(entries).map(([key, value]) => [`${prefix}${key}`, value]),
  );
}

/**
 * A single-node KRaft cluster (broker and controller in one JVM) on the loopback interface,
 * with the replication settings a single node needs for consumer groups and transactions.
 */
export function serverProperties(settings: KafkaNodeSettings): string {
  const { secure } = settings;
  const plaintext = `PLAINTEXT://${LOOPBACK}:${settings.port}`;
  const secured = secure ? [`${SECURE_LISTENER}://${LOOPBACK}:${secure.port}`] : [];
  const entries: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${LOOPBACK}:${settings.controllerPort}`,
    listeners: [plaintext, ...secured, `CONTROLLER://${LOOPBACK}:${settings.controllerPort}`].join(
      ',',
    ),
    'advertised.listeners': [plaintext, ...secured].join(','),
    'listener.security.protocol.map': [
      'PLAINTEXT:PLAINTEXT',
      ...(secure ? [`${SECURE_LISTENER}:${SECURE_LISTENER}`] : []),
      'CONTROLLER:PLAINTEXT',
    ].join(','),
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'log.dirs': settings.dataDir,
    'num.partitions': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'offsets.topic.replication.factor': 1,
    'offsets.topic.num.partitions': 10,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'transaction.state.log.num.partitions': 10,
    'group.initial.rebalance.delay.ms': 0,
    'auto.create.topics.enable': false,
    'delete.topic.enable': true,
    'log.retention.hours': 24,
    'log.segment.bytes': 64 * 1024 * 1024,
    'num.network.threads': 2,
    'num.io.threads': 4,
    // Kafka 4's share groups keep their state in an internal topic replicated 3 times by
    // default, which one node cannot create.
    ...(Number(settings.version?.split('.')[0] ?? 3) >= 4
      ? {
          'share.coordinator.state.topic.replication.factor': 1,
          'share.coordinator.state.topic.min.isr': 1,
        }
      : {}),
    ...(secure ? secureListenerEntries(secure) : {}),
    // With a secured listener, permissions are checked too: the plaintext listeners
    // (ANONYMOUS), the SCRAM user and the OAUTHBEARER principal may do anything, the
    // restricted user only what ACLs grant it (nothing, unless a test grants it more).
    ...(secure
      ? {
          'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
          'super.users': ['ANONYMOUS', secure.username, OAUTH_PRINCIPAL]
            .map((user) => `User:${user}`)
            .join(';'),
        }
      : {}),
  };
  return (
    Object.entries(entries)
      .map(([key, value]) => `${key}=${String(value)}`)
      .join('\n') + '\n'
  );
}

/** Kafka 4's logging configuration (log4j 2, properties format): the same levels as 3.9's. */
export function log4j2Properties(): string {
  return [
    'appender.stdout.type=Console',
    'appender.stdout.name=STDOUT',
    'appender.stdout.layout.type=PatternLayout',
    'appender.stdout.layout.pattern=[%d] %p %m (%c)%n',
    'rootLogger.level=INFO',
    'rootLogger.appenderRef.stdout.ref=STDOUT',
    ...[
      ['kafka', 'INFO'],
      ['org.apache.kafka', 'INFO'],
      ['state.change.logger', 'WARN'],
      ['kafka.request.logger', 'WARN'],
    ].flatMap(([name, level], i) => [`logger.l${i}.name=${name}`, `logger.l${i}.level=${level}`]),
    '',
  ].join('\n');
}

export function log4jProperties(): string {
  return [
    'log4j.rootLogger=INFO, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka=INFO',
    'log4j.logger.org.apache.kafka=INFO',
    'log4j.logger.state.change.logger=WARN',
    'log4j.logger.kafka.request.logger=WARN',
    '',
  ].join('\n');
}

/** A KRaft cluster ID: 16 random bytes, base64url, never starting with '-' (as Kafka's Uuid). */
export function newClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

function jvmArgs(paths: InfraPaths, libs: string): string[] {
  return [
    '-Xms128m',
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:+ExitOnOutOfMemoryError',
    '-Djava.awt.headless=true',
    paths.kafka.logging === 'log4j2'
      ? `-Dlog4j2.configurationFile=${paths.kafkaLog4j}`
      : `-Dlog4j.configuration=file:${paths.kafkaLog4j}`,
    `-Dkafka.logs.dir=${dirname(paths.kafkaLog)}`,
    '-cp',
    join(libs, '*'),
  ];
}

/** Writes the configs, formats fresh storage and starts the broker. Returns its PID. */
export async function startKafka(
  paths: InfraPaths,
  libs: string,
  java: string,
  settings: KafkaNodeSettings,
): Promise<number> {
  await formatKafka(paths, libs, java, settings);
  return launchKafka(paths, libs, java);
}

/** Starts a broker whose configs and storage `formatKafka` wrote (again, after a stop). */
export function launchKafka(paths: InfraPaths, libs: string, java: string): Promise<number> {
  return startDetached(java, [...jvmArgs(paths, libs), KAFKA_MAIN_CLASS, paths.kafkaConfig], {
    logFile: paths.kafkaLog,
  });
}

/** Writes the configs and formats the storage with a new cluster ID. */
export async function formatKafka(
  paths: InfraPaths,
  libs: string,
  java: string,
  settings: KafkaNodeSettings,
): Promise<void> {
  await mkdir(paths.run, { recursive: true });
  // With a secured listener it holds the keystore's password: readable by its owner only.
  await writeFile(
    paths.kafkaConfig,
    serverProperties({ ...settings, version: settings.version ?? paths.kafka.version }),
    { mode: 0o600 },
  );
  await chmod(paths.kafkaConfig, 0o600);
  await writeFile(
    paths.kafkaLog4j,
    paths.kafka.logging === 'log4j2' ? log4j2Properties() : log4jProperties(),
  );
  const format = spawnSync(
    java,
    [
      ...jvmArgs(paths, libs),
      'kafka.tools.StorageTool',
      'format',
      '--ignore-formatted',
      '-t',
      newClusterId(),
      '-c',
      paths.kafkaConfig,
      ...(settings.secure
        ? scramFormatArgs(settings.secure, {
            username: RESTRICTED_USERNAME,
            password: settings.secure.restrictedPassword,
          })
        : []),
    ],
    { encoding: 'utf8', timeout: 120_000 },
  );
  if (format.status !== 0) {
    throw new InfraError(
      'infra.start-failed',
      `Formatting the Kafka storage in ${settings.dataDir} failed: ${(format.stderr || format.stdout || String(format.error)).trim().split('\n').slice(-3).join(' ')}`,
      { hint: 'remove the folder named above and run `npm run infra -- up` again' },
    );
  }
}
