import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createSchemaRegistry, pingRegistry } from '../../../src/adapters/registry/client.js';
import { closeServer, listenLocal } from '../../support/net.js';

let server: Server | undefined;
afterEach(async () => {
  await closeServer(server);
  server = undefined;
});

/** Every text an error carries: message, stack, `toString`, down its cause chain. */
function textsOf(error: unknown): string {
  const texts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 10; depth++) {
    if (!(e instanceof Error)) {
      texts.push(JSON.stringify(e));
      break;
    }
    texts.push(e.toString(), e.message, e.stack ?? '', JSON.stringify(e));
    e = e.cause;
  }
  return texts.join('\n');
}

describe('pingRegistry with credentials in the URL', () => {
  it('sends them as Basic auth and lists the subjects', async () => {
    const seen: (string | undefined)[] = [];
    server = createServer((request, response) => {
      seen.push(`${request.url} ${request.headers.authorization}`);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('["a-value"]');
    });
    const port = await listenLocal(server);
    expect(await pingRegistry(`http://user:secret@127.0.0.1:${port}/`)).toEqual(['a-value']);
    expect(
      await pingRegistry({ url: `http://127.0.0.1:${port}`, username: 'u', password: 'p' }),
    ).toEqual(['a-value']);
    const basic = (pair: string): string => `Basic ${Buffer.from(pair).toString('base64')}`;
    expect(seen).toEqual([`/subjects ${basic('user:secret')}`, `/subjects ${basic('u:p')}`]);
  });

  it('shows them in no error: HTTP refusals and failed connections', async () => {
    server = createServer((_, response) => {
      response.writeHead(401);
      response.end();
    });
    const port = await listenLocal(server);
    const refused = await pingRegistry(`http://user:secret@127.0.0.1:${port}`).catch(
      (e: unknown) => e,
    );
    expect((refused as Error).message).toBe(
      `GET http://127.0.0.1:${port}/subjects answered HTTP 401`,
    );
    const unreachable = await pingRegistry('http://user:secret@127.0.0.1:1?key=k3y').catch(
      (e: unknown) => e,
    );
    expect((unreachable as Error).message).toMatch(
      /^GET http:\/\/127\.0\.0\.1:1\/?\?key=\*\*\*\/subjects failed: fetch failed/,
    );
    for (const error of [refused, unreachable]) {
      expect(textsOf(error)).not.toContain('secret');
      expect(textsOf(error)).not.toContain('k3y');
    }
  });
});

describe('createSchemaRegistry with credentials in the URL', () => {
  it('keeps them out of the client’s errors', async () => {
    const registry = createSchemaRegistry({ url: 'http://user:secret@127.0.0.1:1' });
    const error = await registry.getLatestSchemaId('s-value').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(textsOf(error)).toContain('127.0.0.1:1');
    expect(textsOf(error)).not.toContain('secret');
  });
});
