import { existsSync } from 'node:fs';
import { mkdtemp, readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureRegistryDist, kafkaPom } from '../../src/infra/downloads.js';
import { infraPaths } from '../../src/infra/paths.js';
import { silentProgress } from '../../src/infra/progress.js';
import { freePort } from '../../src/infra/ports.js';
import { APICURIO, KAFKA } from '../../src/infra/versions.js';
import { closeServer, listenLocal } from '../support/net.js';

describe('kafkaPom', () => {
  it('asks for the broker plus the reload4j backend Kafka leaves out', () => {
    const pom = kafkaPom();
    expect(pom).toContain(
      `<artifactId>kafka_${KAFKA.scala}</artifactId><version>${KAFKA.version}</version>`,
    );
    expect(pom).toContain(`<artifactId>reload4j</artifactId><version>1.2.26</version>`);
    expect(pom).toContain(`<artifactId>slf4j-reload4j</artifactId><version>1.7.36</version>`);
  });

  it('asks for Kafka 4 with the log4j 2 backend it leaves out instead', () => {
    const paths = infraPaths({ MEMBRANE_KAFKA_VERSION: '4.1.2', MEMBRANE_CACHE_DIR: '/c' });
    expect(paths.kafkaHome).toBe('/c/kafka_2.13-4.1.2');
    expect(paths.kafkaLog4j).toMatch(/log4j2\.properties$/);
    const pom = kafkaPom(paths.kafka);
    expect(pom).toContain('<artifactId>kafka_2.13</artifactId><version>4.1.2</version>');
    expect(pom).toContain('<artifactId>log4j-slf4j-impl</artifactId>');
    expect(pom).not.toContain('reload4j');
  });

  it('refuses a Kafka release it does not pin, naming the ones it does', () => {
    expect(() => infraPaths({ MEMBRANE_KAFKA_VERSION: '3.7.0' })).toThrow(
      /MEMBRANE_KAFKA_VERSION=3\.7\.0 is not a Kafka release .*use one of 3\.9\.1, 4\.1\.2/,
    );
  });
});

describe('ensureRegistryDist', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await closeServer(server);
    server = undefined;
  });

  async function freshPaths(
    extra: NodeJS.ProcessEnv,
  ): Promise<{ env: NodeJS.ProcessEnv; cache: string }> {
    const cache = await mkdtemp(join(tmpdir(), 'membrane-cache-'));
    return { env: { MEMBRANE_CACHE_DIR: cache, ...extra }, cache };
  }

  it('fails with a clear, retriable error when Maven Central cannot be reached', async () => {
    const port = await freePort(); // nothing listens there
    const { env } = await freshPaths({ MAVEN_CENTRAL_URL: `http://127.0.0.1:${port}/maven2` });
    await expect(ensureRegistryDist(infraPaths(env), silentProgress, env)).rejects.toMatchObject({
      code: 'infra.download-failed',
      retriable: true,
      message: expect.stringContaining(
        `Could not reach http://127.0.0.1:${port}/maven2/${APICURIO.path}`,
      ) as string,
    });
  });

  it('reports an HTTP error status', async () => {
    server = createServer((_req, res) => {
      res.writeHead(404).end();
    });
    const port = await listenLocal(server);
    const { env } = await freshPaths({ MAVEN_CENTRAL_URL: `http://127.0.0.1:${port}` });
    await expect(ensureRegistryDist(infraPaths(env), silentProgress, env)).rejects.toMatchObject({
      code: 'infra.download-failed',
      message: expect.stringContaining('HTTP 404') as string,
    });
  });

  it('refuses a file whose SHA-256 is not the pinned one, and leaves nothing behind', async () => {
    const requested: string[] = [];
    server = createServer((req, res) => {
      requested.push(req.url ?? '');
      res.writeHead(200, { 'content-length': '11' }).end('not a tarball'.slice(0, 11));
    });
    const port = await listenLocal(server);
    const { env, cache } = await freshPaths({ MAVEN_CENTRAL_URL: `http://127.0.0.1:${port}/` });
    const paths = infraPaths(env);
    await expect(ensureRegistryDist(paths, silentProgress, env)).rejects.toMatchObject({
      code: 'infra.checksum-mismatch',
    });
    expect(requested).toEqual([`/${APICURIO.path}`]);
    expect(existsSync(paths.registryHome)).toBe(false);
    expect(await readdir(cache)).toEqual([]);
  });
});
