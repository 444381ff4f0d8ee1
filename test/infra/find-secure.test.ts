import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecureListenerState } from '../../src/infra/secure.js';
import { findSecure } from '../integration/global-setup.js';

const listener: SecureListenerState = {
  port: 9094,
  brokers: ['127.0.0.1:9094'],
  mechanisms: ['scram-sha-512', 'scram-sha-256'],
  caFile: '/tls/ca.pem',
  clientCertFile: '/tls/client.pem',
  clientKeyFile: '/tls/client.key',
  username: 'membrane',
  password: 'pw',
};

describe('findSecure (which SASL_SSL listener the secured tests use)', () => {
  let empty = '';
  beforeAll(async () => {
    empty = await mkdtemp(join(tmpdir(), 'membrane-no-infra-'));
  });
  afterAll(async () => {
    await rm(empty, { recursive: true, force: true });
  });
  const env = (vars: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    MEMBRANE_INFRA_DIR: empty,
    ...vars,
  });

  it("uses the local instance's listener", async () => {
    expect(
      await findSecure({ source: 'local', brokers: ['127.0.0.1:9092'], secure: listener }, env()),
    ).toEqual({ available: true, listener });
  });

  it('says to restart a local instance an older membrane started', async () => {
    const found = await findSecure({ source: 'local', brokers: ['127.0.0.1:9092'] }, env());
    expect(found).toMatchObject({
      available: false,
      reason: expect.stringContaining('npm run infra -- down && npm run infra -- up') as string,
    });
  });

  it('says containers have none and how to get one', async () => {
    expect(await findSecure({ source: 'testcontainers', brokers: ['h:1'] }, env())).toMatchObject({
      available: false,
      reason: expect.stringContaining('MEMBRANE_INFRA=local') as string,
    });
  });

  it('reads the MEMBRANE_TEST_* variables for a cluster named by KAFKA_BROKERS', async () => {
    const found = await findSecure(
      { source: 'env', brokers: ['b:9092'] },
      env({
        MEMBRANE_TEST_SECURE_BROKERS: 'b:9094, c:9094',
        MEMBRANE_TEST_CA_FILE: '/ca.pem',
        MEMBRANE_TEST_SCRAM_USERNAME: 'u',
        MEMBRANE_TEST_SCRAM_PASSWORD: 'p',
        MEMBRANE_TEST_SCRAM_MECHANISMS: 'SCRAM-SHA-256',
      }),
    );
    expect(found).toEqual({
      available: true,
      listener: {
        port: 9094,
        brokers: ['b:9094', 'c:9094'],
        mechanisms: ['scram-sha-256'],
        caFile: '/ca.pem',
        clientCertFile: '',
        clientKeyFile: '',
        username: 'u',
        password: 'p',
      },
    });
  });

  it('names the MEMBRANE_TEST_* variables missing when only some are set', async () => {
    const found = await findSecure(
      { source: 'env', brokers: ['b:9092'] },
      env({ MEMBRANE_TEST_SECURE_BROKERS: 'b:9094', MEMBRANE_TEST_CA_FILE: '/ca.pem' }),
    );
    expect(found).toMatchObject({
      available: false,
      reason: expect.stringMatching(
        /^MEMBRANE_TEST_SCRAM_USERNAME, MEMBRANE_TEST_SCRAM_PASSWORD are not set/,
      ) as string,
    });
  });

  it('with none set and no local instance behind KAFKA_BROKERS, says what to set or unset', async () => {
    const found = await findSecure({ source: 'env', brokers: ['b:9092'] }, env());
    expect(found).toMatchObject({
      available: false,
      reason: expect.stringContaining(
        'MEMBRANE_TEST_SECURE_BROKERS, MEMBRANE_TEST_CA_FILE, MEMBRANE_TEST_SCRAM_USERNAME, MEMBRANE_TEST_SCRAM_PASSWORD',
      ) as string,
    });
  });
});
