import type { Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';

/** Listens on a free loopback port and returns it. */
export async function listenLocal(server: Server | HttpServer): Promise<number> {
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

export async function closeServer(server: Server | HttpServer | undefined): Promise<void> {
  if (!server?.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => {
      resolve();
    });
  });
}

/** Occupies a loopback port, as another program would, until `release()`. */
export async function holdPort(): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer();
  const port = await listenLocal(server);
  return { port, release: () => closeServer(server) };
}
