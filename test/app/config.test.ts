import { describe, expect, it } from 'vitest';
import { loadConnectionConfig } from '../../src/app/config.js';

describe('loadConnectionConfig', () => {
  it('reads brokers and the registry URL', () => {
    expect(
      loadConnectionConfig({
        KAFKA_BROKERS: 'k1:9092,k2:9092',
        SCHEMA_REGISTRY_URL: 'http://registry:8080/apis/ccompat/v7/',
      }),
    ).toMatchObject({
      KAFKA_BROKERS: ['k1:9092', 'k2:9092'],
      SCHEMA_REGISTRY_URL: 'http://registry:8080/apis/ccompat/v7',
      KAFKA_CLIENT_ID: 'membrane',
      LOG_LEVEL: 'info',
    });
  });

  it('names every bad variable in one error, and never shows a password', () => {
    let message = '';
    try {
      loadConnectionConfig({
        KAFKA_BROKERS: 'k1',
        SCHEMA_REGISTRY_URL: 'registry',
        LOG_LEVEL: 'loud',
        SCHEMA_REGISTRY_PASSWORD: 's3cret',
      });
    } catch (error) {
      message = (error as Error).message;
      expect(error).toMatchObject({ code: 'config.invalid' });
    }
    expect(message).toMatch(/KAFKA_BROKERS=k1 .*host:port/);
    expect(message).toMatch(/SCHEMA_REGISTRY_URL=registry is not a URL/);
    expect(message).toMatch(/LOG_LEVEL=loud/);
    expect(message).not.toContain('s3cret');
  });

  it('never shows credentials in a URL it refuses', () => {
    expect(() =>
      loadConnectionConfig({
        KAFKA_BROKERS: 'k1:9092',
        SCHEMA_REGISTRY_URL: 'http://user:s3cret@reg istry:8081',
      }),
    ).toThrow(/^(?!.*s3cret).*SCHEMA_REGISTRY_URL=.* is not a URL/);
  });

  it('says when KAFKA_BROKERS is not set', () => {
    expect(() => loadConnectionConfig({ SCHEMA_REGISTRY_URL: 'http://r' })).toThrow(
      /KAFKA_BROKERS is not set/,
    );
  });
});
