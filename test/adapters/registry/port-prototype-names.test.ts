import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../../src/adapters/registry/port.js';
import { createDecodeStage } from '../../../src/pipeline/stages/decode.js';
import { sourceRecord } from '../../support/records.js';

/**
 * Found by a review (review11): a writer schema that names a type through a schema
 * *reference* (which the registry resolved and accepted: Apicurio answers this exact JSON for
 * `{"type":"record","name":"R","fields":[{"name":"a","type":"toString"}]}` registered with
 * `references: [{name: "toString", subject: <a record named toString>, version: 1}]`) reaches
 * avsc without its references. avsc looked `toString` up in a plain `{}` and found
 * Object.prototype.toString; the Avro guard then threw a TypeError, read as a bug (fatal), and
 * every restart met the same record. Names are now looked up in an object without a
 * prototype: the name is undefined, the schema unparseable, the record quarantined.
 */
const ANSWER = JSON.stringify({
  schema: '{"type":"record","name":"R","fields":[{"name":"a","type":"toString"}]}',
  schemaType: 'AVRO',
  references: [{ name: 'toString', subject: 'review11-ref-toString', version: 1 }],
});

describe('a writer schema naming a type after an Object.prototype member', () => {
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

  it('is quarantined as decode.unparseable-schema naming the field, not a crash, every time', async () => {
    const registry = new ConfluentRegistryPort({ url });
    const decode = createDecodeStage('avro', { registry, reader: undefined });
    const value = Buffer.from([0, 0, 0, 0, 70, 2]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const verdict = await decode(sourceRecord({ value }));
      expect(verdict.kind).toBe('quarantine');
      if (verdict.kind !== 'quarantine') return;
      expect(verdict.issues[0]?.code).toBe('decode.unparseable-schema');
      expect(verdict.issues[0]?.message).toMatch(/undefined type name: toString/);
    }
  });
});
