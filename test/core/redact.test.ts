import { describe, expect, it } from 'vitest';
import { redactError, redactUrl, redactUrlsIn, splitCredentials } from '../../src/core/redact.js';

describe('redactUrl', () => {
  it.each([
    [
      'https://user:secret@registry.example/apis/ccompat/v7',
      'https://registry.example/apis/ccompat/v7',
    ],
    ['http://user@127.0.0.1:8081', 'http://127.0.0.1:8081'],
    ['https://:secret@registry', 'https://registry'],
    // A password with an unescaped @: the userinfo runs to the last @ before the path.
    ['https://user:p@ss@registry/x', 'https://registry/x'],
    ['https://user:s3cret@registry?token=abc&x=1#top', 'https://registry?token=***&x=***#top'],
    // What the URL parser (fetch's) reads as credentials, whatever the spelling.
    ['https:/user:s3cret@registry:8081/x', 'https://registry:8081/x'],
    ['https:user:s3cret@registry', 'https://registry'],
    ['HTTPS:\\\\user:s3cret@Registry/x', 'https://registry/x'],
    // A password with spaces or quotes.
    [`https://user:s3 cr"et'@registry/x`, 'https://registry/x'],
    // Read as the scheme `user:`: masked up to the last @.
    ['user:s3cret@registry:8081', '***@registry:8081'],
    // Not a URL: masked up to the last @, query values too.
    ['https//user:s3cret@registry', '***@registry'],
    ['https://user:s3/cret@registry', '***@registry'],
    ['https//registry?token=abc', 'https//registry?token=***'],
    // An @ in a path is no userinfo.
    [
      'file:///app/node_modules/@scope/pkg/index.js',
      'file:///app/node_modules/@scope/pkg/index.js',
    ],
    ['https://registry/api?apikey=abc', 'https://registry/api?apikey=***'],
    ['http://127.0.0.1:8080/apis/ccompat/v7', 'http://127.0.0.1:8080/apis/ccompat/v7'],
    // An @ in the path or query is no userinfo.
    ['http://registry/subjects/a@b', 'http://registry/subjects/a@b'],
    ['not a url', 'not a url'],
  ])('%s → %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});

describe('redactUrlsIn', () => {
  it('redacts every URL in free text and leaves the rest', () => {
    expect(
      redactUrlsIn(
        'Request cannot be constructed from a URL that includes credentials: http://user:secret@127.0.0.1:1/schemas/ids/1 (then "https://a:b@c/?k=v")',
      ),
    ).toBe(
      'Request cannot be constructed from a URL that includes credentials: http://127.0.0.1:1/schemas/ids/1 (then "https://c/?k=***")',
    );
    expect(redactUrlsIn('connect ECONNREFUSED 127.0.0.1:1')).toBe(
      'connect ECONNREFUSED 127.0.0.1:1',
    );
  });

  it.each([
    // `scheme:/`, which the URL parser reads as `scheme://`.
    [
      'The schema registry at https:/user:s3cret@registry:8081 did not answer',
      'The schema registry at https://registry:8081 did not answer',
    ],
    ['at https:user:s3cret@registry/subjects', 'at https://registry/subjects'],
    // Schemeless, or read as the scheme `user:`.
    ['connect to user:s3cret@registry:8081 failed', 'connect to ***@registry:8081 failed'],
    ['KAFKA_BROKERS=user:s3cret@k1:9092', 'KAFKA_BROKERS=***@k1:9092'],
    // Spaces and quotes in the password.
    [`GET https://user:s3 cr"et'@registry/subjects failed`, 'GET https://registry/subjects failed'],
    [`"https://user:it's@registry/"`, '"https://registry/"'],
    // A / in the password: the URL does not parse, masked up to its last @.
    ['GET https://user:s3/cret@registry failed', 'GET ***@registry failed'],
  ])('hides the password in %j', (text, shown) => {
    expect(redactUrlsIn(text)).toBe(shown);
  });

  it('leaves an @ that is no userinfo: a scoped package in a stack, an e-mail address', () => {
    const text = [
      'Error: x',
      '    at file:///app/node_modules/@scope/pkg/index.js:1:2',
      '    at f (/app/node_modules/@kafkajs/confluent-schema-registry/dist/index.js:10:5)',
      'mail ops@example.com, or see http://registry/subjects/a@b',
    ].join('\n');
    expect(redactUrlsIn(text)).toBe(text);
  });
});

describe('splitCredentials', () => {
  it('takes the userinfo out, percent-decoded', () => {
    expect(splitCredentials('https://us%40er:p%3Ass@registry:8081/api')).toEqual({
      url: 'https://registry:8081/api',
      username: 'us@er',
      password: 'p:ss',
    });
    expect(splitCredentials('https://user@registry')).toEqual({
      url: 'https://registry',
      username: 'user',
    });
    expect(splitCredentials('http://registry:8081/')).toEqual({ url: 'http://registry:8081/' });
  });

  it('takes out what the URL parser reads as credentials, and gives them back as written', () => {
    expect(splitCredentials('https:/user:s3cret@registry:8081/api')).toEqual({
      url: 'https://registry:8081/api',
      username: 'user',
      password: 's3cret',
    });
    // As config normalizes `https://user:s3 cr"et'@registry`.
    expect(splitCredentials(new URL(`https://user:s3 cr"et'@registry`).href)).toEqual({
      url: 'https://registry/',
      username: 'user',
      password: `s3 cr"et'`,
    });
    expect(splitCredentials('https://:s3cret@registry')).toEqual({
      url: 'https://registry',
      username: '',
      password: 's3cret',
    });
    expect(splitCredentials('not a url')).toEqual({ url: 'not a url' });
  });
});

describe('redactError', () => {
  it('returns an error without secrets as it is', () => {
    const error = new Error('connect ECONNREFUSED 127.0.0.1:1');
    expect(redactError(error)).toBe(error);
    expect(redactError('text')).toBe('text');
  });

  it('copies an error whose message or cause shows a URL secret, keeping name and code', () => {
    const inner = Object.assign(new Error('GET https://u:secret@r/x failed'), { code: 'E_X' });
    const outer = new TypeError('fetch failed', { cause: inner });
    const redacted = redactError(outer) as Error;
    expect(redacted).not.toBe(outer);
    expect(redacted.name).toBe('TypeError');
    expect(redacted.message).toBe('fetch failed');
    const cause = redacted.cause as Error & { code?: string };
    expect(cause.message).toBe('GET https://r/x failed');
    expect(cause.code).toBe('E_X');
    expect(`${redacted.stack} ${cause.stack} ${String(cause)}`).not.toContain('secret');
  });
});
