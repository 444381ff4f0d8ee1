import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../src/adapters/registry/port.js';
import { pipelineFailure } from '../../src/app/runtime/failures.js';
import { createDecodeStage } from '../../src/pipeline/stages/decode.js';
import { sourceRecord } from '../support/records.js';

/**
 * review11: a writer schema that names a type through a schema *reference* (which the
 * registry resolved and accepted: Apicurio 2.x answers this exact JSON for
 * `{"type":"record","name":"R","fields":[{"name":"a","type":"toString"}]}` registered with
 * `references: [{name: "toString", subject: <a record named toString>, version: 1}]`)
 * reaches avsc without its references. avsc looks `toString` up in a plain `{}` registry,
 * finds Object.prototype.toString and accepts the schema with a Function as the field type;
 * the Avro guard then throws a TypeError (not a refusal), which the runtime classifies as
 * `runtime.bug` — fatal. Every restart meets the same record: a crash loop from one record.
 */
const ANSWER = JSON.stringify({
  schema: '{"type":"record","name":"R","fields":[{"name":"a","type":"toString"}]}',
  schemaType: 'AVRO',
  references: [{ name: 'toString', subject: 'review11-ref-toString', version: 1 }],
});

describe('review11 PROBLEM: a referenced type named after an Object.prototype member', () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/schemas/ids/70') {
        response.writeHead(200, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        response.end(ANSWER);
      } else {
        response.writeHead(404);
        response.end('{}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  );

  it('PROBLEM: decode throws a TypeError instead of quarantining, and the runtime treats it as a fatal bug', async () => {
    const registry = new ConfluentRegistryPort({ url });
    const decode = createDecodeStage('avro', { registry, reader: undefined });
    const value = Buffer.from([0, 0, 0, 0, 70, 2]);
    const outcome = await Promise.resolve(decode(sourceRecord({ value }))).then(
      (verdict) => ({ verdict, error: undefined as unknown }),
      (error: unknown) => ({ verdict: undefined, error }),
    );
    // Current behaviour (the bug): no verdict, a TypeError from the guard's compile.
    expect(outcome.verdict).toBeUndefined();
    expect(outcome.error).toBeInstanceOf(TypeError);
    const failure = pipelineFailure('orders-0', outcome.error);
    expect(failure.kind).toBe('fatal');
    expect(failure.error.code).toBe('runtime.bug');
    // The same again on redelivery: nothing was cached, nothing quarantined.
    const again = await Promise.resolve(decode(sourceRecord({ value }))).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(TypeError);
  });
});
