import { afterEach, describe, expect, it } from 'vitest';
import type { Server } from 'node:http';
import { startHttp } from '../../src/app/http.js';
import { Metrics } from '../../src/app/metrics.js';

describe('the HTTP endpoints', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => {
      if (server)
        server.close(() => {
          resolve();
        });
      else resolve();
    });
  });

  it('answer /healthz and /readyz from the runtime, 503 when not alive or not ready', async () => {
    let alive = true;
    let ready = false;
    const http = await startHttp(
      0,
      new Metrics(),
      () => ready,
      () => alive,
    );
    server = http.server;
    const status = async (path: string): Promise<number> =>
      (await fetch(`http://127.0.0.1:${http.port}${path}`)).status;
    expect(await status('/healthz')).toBe(200);
    expect(await status('/readyz')).toBe(503);
    ready = true;
    expect(await status('/readyz')).toBe(200);
    // The consumer crashed for good, or the loop is wedged.
    alive = false;
    expect(await status('/healthz')).toBe(503);
    expect(await status('/metrics')).toBe(200);
    expect(await status('/other')).toBe(404);
  });
});
