import { createServer, type Server } from 'node:http';
import { MembraneError } from '../core/errors.js';
import type { Metrics } from './metrics.js';

/** Why the HTTP port cannot be had, naming MEMBRANE_HTTP_PORT; other errors as they are. */
export function httpListenError(error: NodeJS.ErrnoException, port: number): Error {
  if (error.code === 'EADDRINUSE')
    return new MembraneError(
      'http.port-in-use',
      `MEMBRANE_HTTP_PORT=${port} is taken by another process, so membrane cannot serve /healthz, /readyz and /metrics there.`,
      {
        cause: error,
        hint: 'set MEMBRANE_HTTP_PORT to a free port (0 picks one), or stop what holds it',
      },
    );
  if (error.code === 'EACCES')
    return new MembraneError(
      'http.port-denied',
      `MEMBRANE_HTTP_PORT=${port} may not be opened by this user (ports below 1024 need privileges).`,
      { cause: error, hint: 'set MEMBRANE_HTTP_PORT to a port above 1023' },
    );
  return error;
}

/** /healthz (alive: the consumer has not crashed, the loop is not wedged), /readyz (joined the group, tasks ready), /metrics (Prometheus). */
export async function startHttp(
  port: number,
  metrics: Metrics,
  isReady: () => boolean,
  isAlive: () => boolean = () => true,
): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      const alive = isAlive();
      response
        .writeHead(alive ? 200 : 503, { 'content-type': 'text/plain' })
        .end(alive ? 'ok\n' : 'failed\n');
    } else if (path === '/readyz') {
      const ready = isReady();
      response
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : 'not ready\n');
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) =>
          response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => response.writeHead(500).end(String(error)),
      );
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      reject(httpListenError(error, port));
    });
    server.listen(port, () => {
      resolve();
    });
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : port };
}
