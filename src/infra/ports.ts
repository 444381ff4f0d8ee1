import { createServer } from 'node:net';
import { InfraError } from './errors.js';

export const LOOPBACK = '127.0.0.1';

/** Whether nothing listens on host:port right now (binds it and lets go). */
export function isPortFree(port: number, host = LOOPBACK): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => {
      resolvePromise(false);
    });
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => {
        resolvePromise(true);
      });
    });
  });
}

/** A port the kernel says is free now. */
export function freePort(host = LOOPBACK): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => {
        resolvePromise(port);
      });
    });
  });
}

/**
 * The port named by `envName` when set (it must be free), otherwise a free one.
 * Several picks in one go never return the same port twice.
 */
export async function choosePort(
  envName: string,
  env: NodeJS.ProcessEnv,
  taken: Set<number> = new Set(),
): Promise<number> {
  const raw = env[envName];
  if (raw !== undefined && raw !== '') {
    const port = Number(raw);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new InfraError(
        'infra.config-invalid',
        `${envName}=${raw} is not a TCP port (1-65535).`,
        { hint: `unset ${envName} to let membrane pick a free port` },
      );
    }
    if (taken.has(port) || !(await isPortFree(port))) {
      throw new InfraError(
        'infra.port-in-use',
        `Port ${port} on ${LOOPBACK}, asked for by ${envName}, is already in use by another process.`,
        {
          hint: `stop that process, or set ${envName} to another port (or unset it to pick a free one)`,
        },
      );
    }
    taken.add(port);
    return port;
  }
  for (;;) {
    const port = await freePort();
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}
