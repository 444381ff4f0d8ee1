import { createServer, type Server } from 'node:http';
import type { Metrics } from './metrics.js';

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
    server.once('error', reject);
    server.listen(port, () => {
      resolve();
    });
  });
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : port };
}
