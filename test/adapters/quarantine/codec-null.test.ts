import { expect, it } from 'vitest';
import {
  decodeQuarantine,
  QuarantineFormatError,
  QUARANTINE_HEADERS as H,
} from '../../../src/adapters/quarantine/codec.js';
it('a null value of one of our headers: not a quarantine record (skipped), no TypeError', () => {
  const headers: Record<string, unknown> = {
    [H.code]: 'map.x',
    [H.stage]: 'map',
    [H.issues]: '[{"code":"map.x","path":"","message":""}]',
    [H.topic]: 't',
    [H.partition]: '0',
    [H.offset]: '1',
    [H.timestamp]: '0',
    [H.mapping]: 'm@1',
    [H.id]: '',
    [H.quarantinedAt]: 'x',
    [H.attempt]: '1',
    other: null,
  };
  expect(
    decodeQuarantine({ key: null, value: null, headers } as never).upstream.headers.other,
  ).toBeNull();
  for (const v of [null, [null], ['x', null]])
    expect(() =>
      decodeQuarantine({
        key: null,
        value: null,
        headers: { ...headers, [H.id]: v },
      } as never),
    ).toThrow(QuarantineFormatError);
});
