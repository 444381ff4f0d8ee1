import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConnectionConfig, loadRunConfig } from '../src/app/config.js';
import { program } from '../src/cli/program.js';
import { loadMappingFile } from '../src/mapping/load.js';
import { findFiles, isMappingFile } from '../src/mapping/files.js';
import { projectRoot } from '../src/infra/paths.js';
import { CONTAINER_IMAGES } from '../src/infra/testcontainers.js';
import { APICURIO, KAFKA } from '../src/infra/versions.js';

interface Service {
  image?: string;
  build?: string;
  ports?: string[];
  environment?: Record<string, string | number>;
  command?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const root = projectRoot();
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, Service>;
};
const { kafka, 'schema-registry': registry, membrane } = compose.services;

function env(service: Service | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service?.environment ?? {}).map(([key, value]) => [key, String(value)]),
  );
}

describe('docker-compose.yml', () => {
  it('has kafka, schema-registry and a membrane built from this repo', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'kafka',
      'membrane',
      'schema-registry',
      'topics',
    ]);
    expect(kafka?.image).toBe(`apache/kafka:${KAFKA.version}`);
    expect(registry?.image).toBe(CONTAINER_IMAGES.registry);
    expect(membrane?.build).toBe('.');
  });

  it('gives membrane connection settings the code accepts and that point at the other services', () => {
    const config = loadConnectionConfig(env(membrane));
    const kafkaEnv = env(kafka);
    const advertised = kafkaEnv['KAFKA_ADVERTISED_LISTENERS']?.split(',') ?? [];
    const internal = advertised.find((listener) =>
      listener.startsWith(`${kafkaEnv['KAFKA_INTER_BROKER_LISTENER_NAME'] ?? ''}://`),
    );
    expect(internal).toBeDefined();
    expect(config.KAFKA_BROKERS).toEqual([internal?.split('://')[1]]);
    expect(config.KAFKA_BROKERS[0]?.split(':')[0]).toBe('kafka');

    const url = new URL(config.SCHEMA_REGISTRY_URL);
    expect(url.hostname).toBe('schema-registry');
    const containerPorts = (registry?.ports ?? []).map((mapping) => mapping.split(':').at(-1));
    expect(containerPorts).toContain(url.port);
    expect(url.pathname).toBe(APICURIO.ccompatPath);
    expect(membrane?.depends_on?.['kafka']?.condition).toBe('service_healthy');
  });

  it('runs a single node that supports consumer groups and transactions', () => {
    const kafkaEnv = env(kafka);
    expect(kafkaEnv['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
    expect(kafkaEnv['KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR']).toBe('1');
    expect(kafkaEnv['KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR']).toBe('1');
    expect(kafkaEnv['KAFKA_TRANSACTION_STATE_LOG_MIN_ISR']).toBe('1');
    // The host port maps to the EXTERNAL listener, advertised as localhost.
    expect(kafka?.ports).toContain('9092:9092');
    expect(kafkaEnv['KAFKA_ADVERTISED_LISTENERS']).toContain('EXTERNAL://localhost:9092');
  });

  it('runs membrane on the example mappings, after their input topics exist', async () => {
    expect(membrane?.command).toEqual(['run']);
    expect(program().commands.map((c) => c.name())).toContain('run');
    expect(membrane?.depends_on?.['topics']?.condition).toBe('service_completed_successfully');
    const config = loadRunConfig({ ...env(membrane), ERP_HMAC_KEY_1: 'x', ERP_HMAC_KEY_2: 'y' });
    expect(config.MEMBRANE_MAPPINGS).toBe('/app/mappings');
    const created = [
      ...(compose.services['topics']?.command?.join(' ') ?? '').matchAll(/--topic (\S+)/g),
    ].map((m) => m[1]);
    const files = await findFiles([join(root, 'mappings')], isMappingFile);
    const inputs: string[] = [];
    for (const file of files)
      inputs.push(
        ...(await loadMappingFile(file, { ERP_HMAC_KEY_1: 'x', ERP_HMAC_KEY_2: 'y' })).spec.source
          .topics,
      );
    expect(created.sort()).toEqual(inputs.sort());
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain('COPY mappings ./mappings');
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };

  it('is multi-stage and runs as a non-root user', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('applies the dependency patches wherever it installs packages', () => {
    const installs = dockerfile.split('\n').filter((line) => line.includes('npm ci'));
    expect(installs).toHaveLength(2);
    for (const line of installs) expect(line).toContain('npx patch-package');
    expect(dockerfile.match(/^COPY patches \.\/patches$/gm)).toHaveLength(2);
  });

  it('starts the same entry point as the `membrane` bin', () => {
    expect(dockerfile).toContain(`ENTRYPOINT ["node", "/app/${pkg.bin['membrane'] ?? ''}"]`);
  });
});
