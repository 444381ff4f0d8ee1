import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startHttp } from '../../src/app/http.js';
import { Metrics } from '../../src/app/metrics.js';
import { MembraneError } from '../../src/core/errors.js';

describe('startHttp on a taken port', () => {
  it('fails with one sentence naming MEMBRANE_HTTP_PORT', async () => {
    const holder = createServer();
    holder.listen(0);
    await once(holder, 'listening');
    const port = (holder.address() as AddressInfo).port;
    try {
      const error = await startHttp(port, new Metrics(), () => true).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(MembraneError);
      expect(error).toMatchObject({ code: 'http.port-in-use' });
      expect((error as MembraneError).message).toBe(
        `MEMBRANE_HTTP_PORT=${port} is taken by another process, so membrane cannot serve /healthz, /readyz and /metrics there.`,
      );
    } finally {
      holder.close();
    }
  });
});
