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

  it('says when SCHEMA_REGISTRY_URL is not set', () => {
    expect(() => loadConnectionConfig({ KAFKA_BROKERS: 'k1:9092' })).toThrow(
      /SCHEMA_REGISTRY_URL is not set/,
    );
  });

  it('reads the registry URL as fetch will (http or https, normalized)', () => {
    const registry = (url: string): string =>
      loadConnectionConfig({ KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: url })
        .SCHEMA_REGISTRY_URL;
    expect(registry('HTTP://Registry:8080/apis/ccompat/v7/')).toBe(
      'http://registry:8080/apis/ccompat/v7',
    );
    // The URL parser reads `https:/` as `https://`, credentials included: so does membrane.
    expect(registry('https:/user:s3cret@registry:8081')).toBe('https://user:s3cret@registry:8081');
    expect(registry(`https://user:s3 cr"et'@registry`)).toBe(`https://user:s3%20cr%22et'@registry`);
  });

  it.each([
    // Read by the URL parser as the scheme `user:`.
    ['user:s3cret@registry:8081', '***@registry:8081', 'is not an http:// or https:// URL'],
    ['ftp://user:s3cret@registry', '***@registry', 'is not an http:// or https:// URL'],
    // Not URLs.
    ['https//user:s3cret@registry', '***@registry', 'is not a URL'],
    ['http://user:s3cret@reg istry:8081', '***@reg istry:8081', 'is not a URL'],
    ['https://user:s3/cret@registry', '***@registry', 'is not a URL'],
    // A password with a / ? or # the parser cut short: host `user`, port 123.
    ['https://user:123/s3cret@registry', '***@registry', 'has a ?, # or @ after its host'],
    ['https://user:123#s3cret@registry', '***@registry', 'has a ?, # or @ after its host'],
    ['https://user:123?s3cret@registry', '***@registry', 'has a ?, # or @ after its host'],
    // A query or a fragment: membrane appends /subjects… to the base.
    ['https://registry/api?token=s3cret', 'https://registry/api?token=***', 'has a ?, # or @'],
  ])('refuses %s, showing it as %s', (url, shown, reason) => {
    let message = '';
    try {
      loadConnectionConfig({ KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: url });
    } catch (error) {
      message = (error as Error).message;
      expect(error).toMatchObject({ code: 'config.invalid' });
    }
    expect(message).toContain(`SCHEMA_REGISTRY_URL=${shown} ${reason}`);
    expect(message).not.toContain('s3cret');
  });

  it('says when KAFKA_BROKERS is not set', () => {
    expect(() => loadConnectionConfig({ SCHEMA_REGISTRY_URL: 'http://r' })).toThrow(
      /KAFKA_BROKERS is not set/,
    );
  });
});
