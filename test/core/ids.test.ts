import { describe, expect, it } from 'vitest';
import { validate, version } from 'uuid';
import {
  deterministicId,
  eventKeyFromCoordinates,
  eventKeyFromId,
  mappingNamespace,
} from '../../src/core/ids.js';

describe('deterministic IDs', () => {
  const ns = mappingNamespace('legacy-orders');

  it('are RFC 9562 version-5 UUIDs', () => {
    const id = deterministicId(ns, eventKeyFromId('legacy-erp', 'e-1'), 0);
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(5);
  });

  it('are the same for the same mapping, event and output index — and differ otherwise', () => {
    const key = eventKeyFromId('legacy-erp', 'e-1');
    expect(deterministicId(ns, key, 0)).toBe(
      deterministicId(mappingNamespace('legacy-orders'), key, 0),
    );
    const others = [
      deterministicId(ns, key, 1),
      deterministicId(mappingNamespace('other'), key, 0),
      deterministicId(ns, eventKeyFromId('wms', 'e-1'), 0),
      deterministicId(ns, eventKeyFromId('legacy-erp', 'e-2'), 0),
      deterministicId(ns, eventKeyFromCoordinates('erp.orders', 0, '1'), 0),
    ];
    expect(new Set([deterministicId(ns, key, 0), ...others]).size).toBe(6);
  });

  it('keep a known value (a change here changes every ID downstream)', () => {
    expect(deterministicId(ns, eventKeyFromId('legacy-erp', 'e-1'), 0)).toBe(
      '27318abc-670f-5f84-9387-3efb32ead95f',
    );
  });
});
