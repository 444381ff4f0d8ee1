import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { closeServer, listenLocal } from './net.js';

/**
 * An HTTP proxy in front of the schema registry that a test can make refuse credentials, as
 * a registry does during a credential rotation: while `refuse(status)` holds, every request
 * is answered with that status (401 or 403) and a Confluent-style error body, and never
 * reaches the registry; `pass()` forwards everything again. Counts what it refused.
 */
export interface RegistryGate {
  /** The proxy's base URL, with the registry's own path (e.g. `/apis/ccompat/v7`). */
  readonly url: string;
  refuse(status: 401 | 403): void;
  pass(): void;
  /** Requests answered with a refusal so far. */
  refused(): number;
  /** Requests forwarded to the registry so far. */
  forwarded(): number;
  close(): Promise<void>;
}

export async function registryGate(registryUrl: string): Promise<RegistryGate> {
  const target = new URL(registryUrl);
  const origin = target.origin;
  let refusing: 401 | 403 | undefined;
  let refused = 0;
  let forwarded = 0;
  const forward = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || name === 'host' || name === 'connection') continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
    try {
      const answer = await fetch(`${origin}${request.url ?? '/'}`, {
        method: request.method ?? 'GET',
        headers,
        ...(body === undefined ? {} : { body }),
      });
      const text = Buffer.from(await answer.arrayBuffer());
      forwarded += 1;
      response
        .writeHead(answer.status, {
          'content-type': answer.headers.get('content-type') ?? 'application/json',
        })
        .end(text);
    } catch (error) {
      response.writeHead(502, { 'content-type': 'text/plain' }).end(String(error));
    }
  };
  const server = createServer((request, response) => {
    if (refusing !== undefined) {
      refused += 1;
      const status = refusing;
      // Drain the request body so the connection stays usable for keep-alive.
      request.resume();
      request.on('end', () => {
        response
          .writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' })
          .end(
            JSON.stringify({
              error_code: status,
              message: status === 401 ? 'Unauthorized' : 'Forbidden: credentials were rotated',
            }),
          );
      });
      return;
    }
    void forward(request, response);
  });
  const port = await listenLocal(server);
  return {
    url: `http://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`,
    refuse: (status) => {
      refusing = status;
    },
    pass: () => {
      refusing = undefined;
    },
    refused: () => refused,
    forwarded: () => forwarded,
    close: async () => {
      server.closeAllConnections();
      await closeServer(server);
    },
  };
}

/** The HTTP status of `GET http://127.0.0.1:<port><path>`, or 0 when nothing answered. */
export async function httpStatus(port: number, path: string): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, {
      signal: AbortSignal.timeout(2_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

/** The sum of a Prometheus counter's samples on membrane's /metrics (every label set). */
export async function counterTotal(port: number, name: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`, {
    signal: AbortSignal.timeout(2_000),
  });
  const text = await response.text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^(\w+)(?:\{[^}]*\})?\s+(\S+)$/.exec(line.trim());
    if (match?.[1] === name) total += Number(match[2]);
  }
  return total;
}
