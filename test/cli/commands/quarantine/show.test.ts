import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ConfluentRegistryPort } from '../../../../src/adapters/registry/port.js';
import { describeValue, hexDump } from '../../../../src/cli/commands/quarantine/show.js';
import { InMemorySchemaRegistry } from '../../../../src/pipeline/ports.js';

describe('hexDump', () => {
  it('shows offset, hex and printable characters, 16 bytes a line, and cuts long values', () => {
    expect(hexDump(Buffer.from('{"order_id": 1,\u0000\u00ff'))).toBe(
      '00000000  7b 22 6f 72 64 65 72 5f 69 64 22 3a 20 31 2c 00  {"order_id": 1,.\n00000010  c3 bf                                            ..',
    );
    expect(hexDump(Buffer.alloc(600), 32).split('\n')).toHaveLength(3);
    expect(hexDump(Buffer.alloc(600), 32)).toMatch(/… 568 more bytes$/);
  });

  it('prints nothing a terminal acts on, whatever the bytes', () => {
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    expect(hexDump(every)).toMatch(/^[\x20-\x7e\n]*$/);
  });
});

describe('describeValue', () => {
  // JSON and hex never ask the registry: nothing listens there.
  const registry = new ConfluentRegistryPort({ url: 'http://127.0.0.1:9' });

  it('pretty-prints JSON with C1, bidi and zero-width characters as \\u escapes: the same value', async () => {
    const value = { note: '\x1b[2J\u009b31m\u202egnp.exe\u200b', n: 1 };
    const { format, text } = await describeValue(Buffer.from(JSON.stringify(value)), registry);
    expect(format).toBe('JSON');
    expect(text).toBe('{\n  "note": "\\u001b[2J\\u009b31m\\u202egnp.exe\\u200b",\n  "n": 1\n}');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('gives the decoded JSON value itself, for `show --json`', async () => {
    const value = { event_id: 'e-1', lines: [{ sku: 'A', qty: 2 }], note: null };
    const described = await describeValue(Buffer.from(JSON.stringify(value)), registry);
    expect(described.value).toEqual(value);
  });

  it('shows bytes that are not UTF-8 as a hex dump', async () => {
    const { format, text } = await describeValue(Buffer.from([0x1b, 0x9b, 0xff]), registry);
    expect(format).toBe('bytes (3)');
    expect(text).toBe(`00000000  ${'1b 9b ff'.padEnd(47)}  ...`);
    expect(await describeValue(Buffer.from([0x1b, 0x9b, 0xff]), registry)).not.toHaveProperty(
      'value',
    );
  });
});

describe('describeValue with Avro', () => {
  const framed = (id: number, body: Buffer): Buffer => {
    const bytes = Buffer.alloc(5 + body.length);
    bytes.writeInt32BE(id, 1);
    body.copy(bytes, 5);
    return bytes;
  };

  it('decodes through the registry, as `membrane run` does', async () => {
    const registry = new InMemorySchemaRegistry();
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'Adjusted',
      fields: [{ name: 'sku', type: 'string' }],
    });
    const id = await registry.register('s-value', type);
    expect(await describeValue(framed(id, type.toBuffer({ sku: 'A-1' })), registry)).toEqual({
      format: `Avro (schema ${id}, Adjusted)`,
      text: '{\n  "sku": "A-1"\n}',
      value: { sku: 'A-1' },
    });
  });

  it('gives Avro bytes and fixed as base64, like keys, not as a Node.js Buffer dump', async () => {
    const registry = new InMemorySchemaRegistry();
    const type = avro.Type.forSchema({
      type: 'record',
      name: 'Signed',
      fields: [
        { name: 'digest', type: 'bytes' },
        { name: 'tag', type: { type: 'fixed', name: 'Tag', size: 2 } },
        { name: 'parts', type: { type: 'array', items: 'bytes' } },
      ],
    });
    const id = await registry.register('signed-value', type);
    const body = type.toBuffer({
      digest: Buffer.from([0xde, 0xad]),
      tag: Buffer.from([0x01, 0x02]),
      parts: [Buffer.from('hi')],
    });
    const described = await describeValue(framed(id, body), registry);
    expect(described.value).toEqual({
      digest: { base64: '3q0=' },
      tag: { base64: 'AQI=' },
      parts: [{ base64: 'aGk=' }],
    });
    expect(JSON.parse(described.text)).toEqual(described.value);
  });

  it('shows an Avro bomb as bytes with the reason, instead of building 50,000,000 nulls', async () => {
    const registry = new InMemorySchemaRegistry();
    const bomb = avro.Type.forSchema({
      type: 'record',
      name: 'Bomb',
      fields: [{ name: 'junk', type: { type: 'array', items: 'null' } }],
    });
    const id = await registry.register('bomb-value', bomb);
    // A block count of 50,000,000 (zigzag varint), then the end of the array.
    const value = framed(id, Buffer.from([0x80, 0xc2, 0xd7, 0x2f, 0x00]));
    expect(await describeValue(value, registry)).toEqual({
      format: 'bytes (10); not decoded as Avro: decode.zero-size-items at junk',
      text: hexDump(value),
    });
  });
});
