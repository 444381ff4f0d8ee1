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
