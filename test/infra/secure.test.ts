import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSecureMaterial,
  randomPassword,
  scramFormatArgs,
  type SecureMaterial,
} from '../../src/infra/secure.js';

describe('createSecureMaterial', () => {
  let dir = '';
  let material: SecureMaterial;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'membrane-tls-'));
    material = await createSecureMaterial(join(dir, 'tls'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes a CA and a broker certificate for 127.0.0.1 and localhost signed by it', async () => {
    const ca = new X509Certificate(await readFile(material.caFile));
    const broker = new X509Certificate(await readFile(join(dir, 'tls', 'broker.pem')));
    expect(ca.ca).toBe(true);
    expect(broker.ca).toBe(false);
    expect(broker.verify(ca.publicKey)).toBe(true);
    expect(broker.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(broker.checkHost('localhost')).toBe('localhost');
    expect(broker.checkHost('example.com')).toBeUndefined();
  });

  it('makes a client certificate signed by the same CA, for mutual TLS', async () => {
    const ca = new X509Certificate(await readFile(material.caFile));
    const client = new X509Certificate(await readFile(material.clientCertFile));
    expect(client.verify(ca.publicKey)).toBe(true);
    expect(client.subject).toBe('CN=membrane');
    expect(await readFile(material.clientKeyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('keeps keys private to their owner and throws the CA key away', async () => {
    for (const file of [material.keystoreFile, material.clientKeyFile])
      expect((await stat(file)).mode & 0o077).toBe(0);
    await expect(stat(join(dir, 'tls', 'ca.key'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await readdir(join(dir, 'tls'))).sort()).toEqual([
      'broker.key',
      'broker.p12',
      'broker.pem',
      'ca.pem',
      'client.key',
      'client.pem',
    ]);
  });

  it('makes a keystore that opens with its password (given to openssl through the environment)', () => {
    const check = (password: string) =>
      spawnSync(
        'openssl',
        ['pkcs12', '-in', material.keystoreFile, '-noout', '-passin', 'env:P12_PASSWORD'],
        { env: { ...process.env, P12_PASSWORD: password }, encoding: 'utf8' },
      ).status;
    expect(check(material.keystorePassword)).toBe(0);
    expect(check(`${material.keystorePassword}x`)).not.toBe(0);
  });

  it('makes a new CA each time (a fresh instance trusts nothing from an old one)', async () => {
    const other = await createSecureMaterial(join(dir, 'other'));
    const first = new X509Certificate(await readFile(material.caFile));
    const second = new X509Certificate(await readFile(other.caFile));
    expect(second.fingerprint256).not.toBe(first.fingerprint256);
    expect(other.password).not.toBe(material.password);
  });

  it('names openssl when it cannot be run', async () => {
    await expect(
      createSecureMaterial(join(dir, 'none'), { PATH: '/nonexistent' }),
    ).rejects.toMatchObject({
      code: 'infra.openssl-missing',
      hint: expect.stringContaining('openssl') as string,
    });
  });
});

describe('scramFormatArgs', () => {
  it('creates the user for SCRAM-SHA-512 and SCRAM-SHA-256 at format time', () => {
    expect(scramFormatArgs({ username: 'membrane', password: 'abc' })).toEqual([
      '--add-scram',
      'SCRAM-SHA-512=[name=membrane,password=abc]',
      '--add-scram',
      'SCRAM-SHA-256=[name=membrane,password=abc]',
    ]);
  });

  it('uses passwords StorageTool reads back unchanged (no =, comma or bracket)', () => {
    for (let i = 0; i < 50; i++) expect(randomPassword()).toMatch(/^[0-9a-f]{36}$/);
  });
});
