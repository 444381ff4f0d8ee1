import { afterEach, describe, expect, it } from 'vitest';
import { choosePort, isPortFree } from '../../src/infra/ports.js';
import { holdPort } from '../support/net.js';

describe('choosePort', () => {
  let held: { port: number; release: () => Promise<void> } | undefined;

  afterEach(async () => {
    await held?.release();
    held = undefined;
  });

  it('refuses a configured port that another process holds, naming the variable', async () => {
    held = await holdPort();
    const { port } = held;
    expect(await isPortFree(port)).toBe(false);
    await expect(
      choosePort('MEMBRANE_KAFKA_PORT', { MEMBRANE_KAFKA_PORT: String(port) }),
    ).rejects.toMatchObject({
      code: 'infra.port-in-use',
      message: expect.stringContaining(
        `Port ${port} on 127.0.0.1, asked for by MEMBRANE_KAFKA_PORT`,
      ) as string,
    });
  });

  it('rejects a value that is not a port', async () => {
    await expect(
      choosePort('MEMBRANE_REGISTRY_PORT', { MEMBRANE_REGISTRY_PORT: 'http' }),
    ).rejects.toMatchObject({
      code: 'infra.config-invalid',
    });
  });

  it('uses a free configured port as given', async () => {
    const { port, release } = await holdPort();
    await release();
    expect(await choosePort('P', { P: String(port) })).toBe(port);
  });

  it('picks distinct free ports when none is configured', async () => {
    const taken = new Set<number>();
    const ports = [
      await choosePort('A', {}, taken),
      await choosePort('B', {}, taken),
      await choosePort('C', {}, taken),
    ];
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) expect(await isPortFree(port)).toBe(true);
  });
});
