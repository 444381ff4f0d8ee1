import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { closeServer, listenLocal } from './net.js';

/**
 * A TCP proxy in front of a server, which a test can take down as if that server stopped:
 * while down, nothing listens on its port (connections are refused) and the connections
 * that were open are dropped. Up again, it listens on the same port.
 */
export interface CuttableProxy {
  readonly port: number;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function cuttableProxy(
  targetHost: string,
  targetPort: number,
): Promise<CuttableProxy> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  const port = await listenLocal(server);
  const down = async (): Promise<void> => {
    const closed = closeServer(server);
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  };
  return {
    port,
    down,
    up: () =>
      new Promise<void>((resolve, reject) => {
        if (server.listening) {
          resolve();
          return;
        }
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      }),
    close: down,
  };
}
