import type { SourceRecord } from '../../src/core/records.js';

/** An upstream record with sensible coordinates; override what the test is about. */
export function sourceRecord(overrides: Partial<SourceRecord> = {}): SourceRecord {
  return {
    topic: 'erp.orders',
    partition: 0,
    offset: '42',
    timestamp: '1763800000000',
    key: null,
    value: null,
    headers: {},
    ...overrides,
  };
}

export function jsonRecord(value: unknown, overrides: Partial<SourceRecord> = {}): SourceRecord {
  return sourceRecord({ value: Buffer.from(JSON.stringify(value)), ...overrides });
}
