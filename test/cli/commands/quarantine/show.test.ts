import { describe, expect, it } from 'vitest';
import { hexDump } from '../../../../src/cli/commands/quarantine/show.js';

describe('hexDump', () => {
  it('shows offset, hex and printable characters, 16 bytes a line, and cuts long values', () => {
    expect(hexDump(Buffer.from('{"order_id": 1,\u0000\u00ff'))).toBe(
      '00000000  7b 22 6f 72 64 65 72 5f 69 64 22 3a 20 31 2c 00  {"order_id": 1,.\n00000010  c3 bf                                            ..',
    );
    expect(hexDump(Buffer.alloc(600), 32).split('\n')).toHaveLength(3);
    expect(hexDump(Buffer.alloc(600), 32)).toMatch(/… 568 more bytes$/);
  });
});
