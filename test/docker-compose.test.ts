import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  healthcheck?: { test: string[] };
  restart?: string;
  volumes?: string[];
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
      'grafana',
      'kafka',
      'membrane',
      'prometheus',
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

describe('docker-compose.yml health and restarts', () => {
  const services = compose.services;

  it('gives every long-running service a health check (membrane: the image HEALTHCHECK)', () => {
    for (const name of ['kafka', 'schema-registry', 'prometheus', 'grafana'])
      expect(services[name]?.healthcheck?.test[0], name).toMatch(/^CMD/);
    expect(services['membrane']?.build).toBe('.');
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toMatch(/^HEALTHCHECK /m);
  });

  it("checks the registry's readiness on the port membrane's SCHEMA_REGISTRY_URL uses", () => {
    const probe = services['schema-registry']?.healthcheck?.test.join(' ') ?? '';
    const url = new URL(loadConnectionConfig(env(services['membrane'])).SCHEMA_REGISTRY_URL);
    expect(probe).toContain(`/dev/tcp/127.0.0.1/${url.port}`);
    expect(probe).toContain('GET /health/ready ');
    expect(probe).toContain('grep -q " 200 "');
  });

  it('starts membrane once Kafka and the registry are healthy and the topics exist, and restarts it', () => {
    expect(services['membrane']?.depends_on).toEqual({
      kafka: { condition: 'service_healthy' },
      'schema-registry': { condition: 'service_healthy' },
      topics: { condition: 'service_completed_successfully' },
    });
    expect(services['membrane']?.restart).toBe('unless-stopped');
  });

  it('runs Prometheus on 9090 and Grafana on 3000 with the files under deploy/', () => {
    const prometheus = services['prometheus'];
    const grafana = services['grafana'];
    expect(prometheus?.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(prometheus?.ports).toEqual(['9090:9090']);
    expect(prometheus?.volumes).toEqual([
      './deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    ]);
    expect(grafana?.image).toMatch(/^grafana\/grafana:\d+\.\d+\.\d+$/);
    expect(grafana?.ports).toEqual(['3000:3000']);
    expect(grafana?.volumes).toEqual([
      './deploy/grafana/provisioning:/etc/grafana/provisioning:ro',
      './deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro',
    ]);
    expect(env(grafana)).toMatchObject({
      GF_AUTH_ANONYMOUS_ENABLED: 'true',
      GF_AUTH_ANONYMOUS_ORG_ROLE: 'Viewer',
    });
    expect(grafana?.depends_on?.['prometheus']?.condition).toBe('service_healthy');
  });

  it('has Prometheus scrape membrane on its service name and MEMBRANE_HTTP_PORT', () => {
    const config = parse(readFileSync(join(root, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    const targets = config.scrape_configs.flatMap((job) =>
      job.static_configs.flatMap((group) => group.targets),
    );
    const port = loadRunConfig(env(services['membrane'])).MEMBRANE_HTTP_PORT;
    expect(targets).toContain(`membrane:${port}`);
    expect(services['membrane']?.ports).toContain(`${port}:${port}`);
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };

  it('is multi-stage on the current Node LTS and runs as a non-root user', () => {
    expect(dockerfile.match(/^FROM node:24-bookworm-slim AS \w+$/gm)).toHaveLength(2);
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

  it('runs `membrane run` by default', () => {
    expect(dockerfile).toMatch(/^CMD \["run"\]$/m);
    expect(program().commands.map((c) => c.name())).toContain('run');
  });

  describe('HEALTHCHECK', () => {
    // The exec form after CMD, joined across line continuations.
    const line =
      /^HEALTHCHECK ((?:.*\\\n)*.*)/m.exec(dockerfile)?.[1]?.replace(/\\\n\s*/g, '') ?? '';
    const command = JSON.parse(line.slice(line.indexOf('CMD ') + 4)) as string[];

    /** Runs the HEALTHCHECK command against a server answering `status` on /healthz only. */
    async function probe(status: number | 'closed'): Promise<{ code: number; paths: string[] }> {
      const paths: string[] = [];
      const server = createServer((request, response) => {
        paths.push(request.url ?? '');
        response.writeHead(request.url === '/healthz' ? Number(status) : 404).end();
      });
      await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
      const { port } = server.address() as AddressInfo;
      if (status === 'closed') await new Promise((done) => server.close(done));
      try {
        const [file, ...args] = command;
        await promisify(execFile)(file ?? '', args, {
          env: { ...process.env, MEMBRANE_HTTP_PORT: String(port) },
        });
        return { code: 0, paths };
      } catch (error) {
        return { code: (error as { code: number }).code, paths };
      } finally {
        if (status !== 'closed') server.close();
      }
    }

    it('uses node, not curl, with a timeout and a start period', () => {
      expect(command[0]).toBe('node');
      expect(line).toMatch(/--timeout=\d+s/);
      expect(line).toMatch(/--start-period=\d+s/);
    });

    it('passes while /healthz on MEMBRANE_HTTP_PORT answers 200', async () => {
      expect(await probe(200)).toEqual({ code: 0, paths: ['/healthz'] });
    });

    it('fails when /healthz answers 503', async () => {
      expect(await probe(503)).toEqual({ code: 1, paths: ['/healthz'] });
    });

    it('fails when nothing listens on MEMBRANE_HTTP_PORT', async () => {
      expect(await probe('closed')).toEqual({ code: 1, paths: [] });
    });
  });
});
