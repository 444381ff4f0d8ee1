import type { TestProject } from 'vitest/node';
import { acquireInfrastructure, type InfraSource } from '../../src/infra/select.js';
import { createProgress } from '../../src/infra/progress.js';

export interface ProvidedInfra {
  readonly source: InfraSource;
  readonly brokers: readonly string[];
  readonly registryUrl: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    infra: ProvidedInfra;
  }
}

/** Once per run: find or start a real broker and registry, hand their addresses to the tests. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const infra = await acquireInfrastructure({ progress: createProgress() });
  process.stderr.write(
    `[integration] Kafka ${infra.brokers.join(',')} and registry ${infra.registryUrl} ` +
      `(${infra.source}${infra.owned ? ', started for this run' : ', reused'}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
  project.provide('infra', {
    source: infra.source,
    brokers: infra.brokers,
    registryUrl: infra.registryUrl,
  });
  return async () => {
    await infra.release();
  };
}
