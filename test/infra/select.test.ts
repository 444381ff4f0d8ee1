import { describe, expect, it } from 'vitest';
import { acquireInfrastructure } from '../../src/infra/select.js';
import { silentProgress } from '../../src/infra/progress.js';

describe('acquireInfrastructure', () => {
  it('uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL when both are set, and starts nothing', async () => {
    const infra = await acquireInfrastructure({
      progress: silentProgress,
      env: { KAFKA_BROKERS: 'a:9092, b:9092', SCHEMA_REGISTRY_URL: 'http://r:8081/' },
    });
    expect(infra).toMatchObject({
      source: 'env',
      brokers: ['a:9092', 'b:9092'],
      registryUrl: 'http://r:8081',
      owned: false,
    });
    await infra.release();
  });

  it('names the missing variable when only one of the two is set', async () => {
    await expect(
      acquireInfrastructure({ progress: silentProgress, env: { KAFKA_BROKERS: 'a:9092' } }),
    ).rejects.toMatchObject({
      code: 'infra.config-invalid',
      message: expect.stringMatching(/^SCHEMA_REGISTRY_URL is not set/) as string,
    });
    await expect(
      acquireInfrastructure({ progress: silentProgress, env: { SCHEMA_REGISTRY_URL: 'http://r' } }),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/^KAFKA_BROKERS is not set/) as string,
    });
  });

  it('rejects an unknown MEMBRANE_INFRA', async () => {
    await expect(
      acquireInfrastructure({ progress: silentProgress, env: { MEMBRANE_INFRA: 'kubernetes' } }),
    ).rejects.toMatchObject({ code: 'infra.config-invalid' });
  });
});
