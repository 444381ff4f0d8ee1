import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { createSecureMaterial } from '../../../src/infra/secure.js';
import { consumeUntil, testConsumer, uniqueName } from '../../support/kafka.js';
import { secureKafka, secureListener } from '../../support/secure.js';

/** Connects and asks for the cluster's metadata; the error when that fails. */
async function attempt(kafka: Kafka): Promise<Error | { port: number }> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    return { port: cluster.brokers[0]?.port ?? -1 };
  } catch (error) {
    return error as Error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

describe("the local broker's SASL_SSL listener (plain kafkajs, no membrane code)", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it('carries a produce and a consumer group over TLS with SCRAM-SHA-512', async () => {
    const kafka = secureKafka();
    const topic = uniqueName('secure');
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true });
    cleanups.push(async () => {
      await admin.deleteTopics({ topics: [topic] });
      await admin.disconnect();
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: 'k', value: 'over SASL_SSL' }] });
    await producer.disconnect();

    const received = await consumeUntil(testConsumer(kafka), [topic], (r) => r.length >= 1);
    expect(received.map((r) => r.message.value?.toString())).toEqual(['over SASL_SSL']);
  });

  it('advertises its own port (clients stay on the secured listener) and accepts SCRAM-SHA-256', async () => {
    const listener = secureListener();
    expect(listener.mechanisms).toEqual(['scram-sha-512', 'scram-sha-256']);
    expect(await attempt(secureKafka({ mechanism: 'scram-sha-256' }))).toEqual({
      port: listener.port,
    });
  });

  it("accepts a client certificate signed by the instance's CA and refuses one from another CA", async () => {
    const listener = secureListener();
    const own = {
      cert: readFileSync(listener.clientCertFile, 'utf8'),
      key: readFileSync(listener.clientKeyFile, 'utf8'),
    };
    expect(await attempt(secureKafka({ clientCert: own }))).toEqual({ port: listener.port });

    const dir = await mkdtemp(join(tmpdir(), 'membrane-foreign-ca-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const foreign = await createSecureMaterial(dir);
    const refused = await attempt(
      secureKafka({
        clientCert: {
          cert: readFileSync(foreign.clientCertFile, 'utf8'),
          key: readFileSync(foreign.clientKeyFile, 'utf8'),
        },
      }),
    );
    expect(refused).toBeInstanceOf(Error);
  });

  it('refuses a wrong password', async () => {
    const error = await attempt(secureKafka({ password: 'not-the-password' }));
    expect(error).toMatchObject({
      name: 'KafkaJSSASLAuthenticationError',
      message: expect.stringMatching(
        /invalid credentials with SASL mechanism SCRAM-SHA-512/,
      ) as string,
    });
  });

  it('is refused by a client that does not trust its CA', async () => {
    const error = await attempt(secureKafka({ trustCa: false }));
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/self-signed certificate in certificate chain/);
  });

  it('refuses SASL PLAIN (SCRAM and OAUTHBEARER are enabled)', async () => {
    const error = await attempt(secureKafka({ mechanism: 'plain' }));
    expect(error).toMatchObject({ type: 'UNSUPPORTED_SASL_MECHANISM' });
  });
});
