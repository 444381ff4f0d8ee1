import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deterministicId,
  eventKeyFromCoordinates,
  eventKeyFromId,
  mappingNamespace,
} from '../../src/core/ids.js';
import { ISSUE_CODES, stageOf } from '../../src/core/issues.js';
import type { PipelineResult } from '../../src/core/records.js';
import { validate } from 'uuid';
import { signErp } from '../../src/app/demo.js';
import { projectRoot } from '../../src/infra/paths.js';
import { compileMapping } from '../../src/mapping/compile.js';
import { loadMappingFile } from '../../src/mapping/load.js';
import { drop, DROP_KINDS } from '../../src/core/verdict.js';
import { DUPLICATE, Pipeline, type PipelineParts } from '../../src/pipeline/pipeline.js';
import {
  InMemoryClocks,
  InMemorySchemaRegistry,
  TransactionalDedup,
} from '../../src/pipeline/ports.js';
import { BASE_MAPPING, compileText, folderWith } from '../support/mappings.js';
import { jsonRecord, sourceRecord } from '../support/records.js';

const order = { event_id: 'e-1', order_id: 'o-1', total: '12.50' };

function outputs(result: PipelineResult): Extract<PipelineResult, { kind: 'pass' }>['outputs'] {
  if (result.kind !== 'pass') throw new Error(`expected outputs, got ${JSON.stringify(result)}`);
  return result.outputs;
}

describe('the pipeline', () => {
  it('translates, keys and stamps a record', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    const [out] = outputs(
      await pipeline.process(jsonRecord(order, { headers: { 'x-correlation-id': 'c-1' } })),
    );
    expect(out?.topic).toBe('sales.placed');
    expect(out?.key?.toString()).toBe('o-1');
    expect(JSON.parse(out?.value.toString() ?? '')).toEqual({ orderId: 'o-1', total: 1250 });
    expect(out?.id).toBe(
      deterministicId(mappingNamespace('orders'), eventKeyFromId('erp', 'e-1'), 0),
    );
    expect(out?.headers).toEqual({
      'membrane.id': out?.id,
      'membrane.mapping': 'orders@1',
      'membrane.route': 'placed',
      'membrane.source.system': 'erp',
      'membrane.source.topic': 'erp.orders',
      'membrane.source.partition': '0',
      'membrane.source.offset': '42',
      'membrane.source.timestamp': '1763800000000',
      'membrane.aggregate': 'o-1',
      'membrane.vclock': '{"erp":1}',
    });
  });

  it('is deterministic: the same input and mapping give the same bytes, IDs and clocks', async () => {
    const run = async (): Promise<unknown> => {
      const pipeline = await compileText(BASE_MAPPING);
      return outputs(await pipeline.process(jsonRecord(order)));
    };
    expect(await run()).toEqual(await run());
  });

  it('fans out to several targets, one ID per output index', async () => {
    const text = BASE_MAPPING.replace(
      '    to: { topic: sales.placed, format: json, key: orderId }',
      '    to:\n      - { topic: sales.placed, format: json, key: orderId }\n      - { topic: audit.placed, format: json }',
    );
    const out = outputs(await (await compileText(text)).process(jsonRecord(order)));
    expect(out.map((o) => o.topic)).toEqual(['sales.placed', 'audit.placed']);
    const ns = mappingNamespace('orders');
    expect(out.map((o) => o.id)).toEqual(
      [0, 1].map((i) => deterministicId(ns, eventKeyFromId('erp', 'e-1'), i)),
    );
    expect(out[1]?.key).toBeNull();
    // One upstream record, one clock tick.
    expect(out.map((o) => o.headers['membrane.vclock'])).toEqual(['{"erp":1}', '{"erp":1}']);
  });

  it('derives IDs from the coordinates when the mapping names no event ID', async () => {
    const text = BASE_MAPPING.replace('  event: event_id\n', '');
    const [out] = outputs(
      await (await compileText(text)).process(jsonRecord(order, { partition: 3, offset: '7' })),
    );
    expect(out?.id).toBe(
      deterministicId(mappingNamespace('orders'), eventKeyFromCoordinates('erp.orders', 3, '7'), 0),
    );
  });

  it('carries correlation and causation IDs only when upstream has them', async () => {
    const text = BASE_MAPPING.replace(
      '  event: event_id\n',
      '  event: event_id\n  correlation: { header: x-corr }\n  causation: { field: caused_by }\n',
    );
    const pipeline = await compileText(text);
    const [withIds] = outputs(
      await pipeline.process(
        jsonRecord({ ...order, caused_by: 'e-0' }, { headers: { 'x-corr': 'c-9' } }),
      ),
    );
    expect(withIds?.headers['membrane.correlation-id']).toBe('c-9');
    expect(withIds?.headers['membrane.causation-id']).toBe('e-0');
    const [without] = outputs(await pipeline.process(jsonRecord(order)));
    expect(without?.headers).not.toHaveProperty('membrane.correlation-id');
    expect(without?.headers).not.toHaveProperty('membrane.causation-id');
  });

  it('merges an upstream vector clock and flags a concurrent one', async () => {
    const text = BASE_MAPPING.replace(
      '  event: event_id\n',
      '  event: event_id\n  clock: { header: x-vclock }\n',
    );
    const clocks = new InMemoryClocks();
    const pipeline = await compileText(text, { clocks });
    clocks.clocks.set('o-1', { erp: 1, wms: 1 });
    const [after] = outputs(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"erp":1,"wms":2}' } })),
    );
    expect(after?.headers['membrane.vclock']).toBe('{"erp":2,"wms":2}');
    expect(after?.headers).not.toHaveProperty('membrane.concurrent');
    const [concurrent] = outputs(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"crm":1}' } })),
    );
    expect(concurrent?.headers['membrane.vclock']).toBe('{"crm":1,"erp":3,"wms":2}');
    expect(concurrent?.headers['membrane.concurrent']).toBe('true');
  });

  it('drops what no route matches when the mapping says so, and quarantines otherwise', async () => {
    const routed = BASE_MAPPING.replace(
      '  - name: placed\n',
      '  - name: placed\n    when: record.kind == "placed"\n',
    );
    const quarantining = await compileText(routed);
    const result = await quarantining.process(jsonRecord({ ...order, kind: 'other' }));
    expect(result).toMatchObject({
      kind: 'quarantine',
      stage: 'route',
      issues: [{ code: 'route.no-match' }],
    });
    expect(result.kind === 'quarantine' && result.id).toBe(
      deterministicId(mappingNamespace('orders'), eventKeyFromId('erp', 'e-1'), 0),
    );
    const dropping = await compileText(`${routed}otherwise: { drop: not an order event }\n`);
    expect(await dropping.process(jsonRecord({ ...order, kind: 'other' }))).toMatchObject({
      kind: 'drop',
      reason: 'not an order event',
      cause: { kind: 'otherwise', route: undefined, reason: 'not an order event' },
    });
  });

  it('says what kind of drop each is and on which route, from a closed list', async () => {
    const text = `${BASE_MAPPING.replace(
      '  - name: placed\n',
      '  - name: test\n    when: record.kind == "test"\n    drop: test traffic\n  - name: placed\n    when: record.kind == "placed"\n',
    )}otherwise: { drop: not an order event }\n`;
    const pipeline = await compileText(text);
    const routed = await pipeline.process(jsonRecord({ ...order, kind: 'test' }));
    expect(routed).toMatchObject({
      kind: 'drop',
      reason: 'test: test traffic',
      cause: { kind: 'route', route: 'test', reason: 'test: test traffic' },
    });
    const again = await pipeline.process(jsonRecord({ ...order, event_id: 'e-2', kind: 'test' }));
    // One cause object per route: a chunk counts drops without a string or object per record.
    expect(again.kind === 'drop' && routed.kind === 'drop' && again.cause === routed.cause).toBe(
      true,
    );
    // Every drop the mapping can make by its configuration, for counters that start at zero.
    expect(pipeline.drops()).toEqual([
      { kind: 'duplicate', route: undefined, reason: DUPLICATE },
      { kind: 'route', route: 'test', reason: 'test: test traffic' },
      { kind: 'otherwise', route: undefined, reason: 'not an order event' },
    ]);
    expect((await compileText(BASE_MAPPING)).drops()).toEqual([
      { kind: 'duplicate', route: undefined, reason: DUPLICATE },
    ]);
    for (const cause of pipeline.drops()) expect(DROP_KINDS).toContain(cause.kind);
  });

  it('counts a drop verdict from a stage by the stage and the route it ran on', async () => {
    const compiled = await compileText(BASE_MAPPING);
    const parts = (compiled as unknown as { parts: PipelineParts }).parts;
    const pipeline = new Pipeline({
      ...parts,
      routes: parts.routes.map((r) => ({ ...r, map: () => drop('not for us') })),
    });
    const first = await pipeline.process(jsonRecord(order));
    const second = await pipeline.process(jsonRecord({ ...order, event_id: 'e-2' }));
    expect(first).toMatchObject({
      kind: 'drop',
      reason: 'not for us',
      cause: { kind: 'map', route: 'placed', reason: 'not for us' },
    });
    expect(first.kind === 'drop' && second.kind === 'drop' && first.cause === second.cause).toBe(
      true,
    );
  });

  it('quarantines a translated record that does not fit its Avro schema, naming the field', async () => {
    const dir = await folderWith({
      'placed.avsc': JSON.stringify({
        type: 'record',
        name: 'Placed',
        fields: [
          { name: 'orderId', type: 'string' },
          { name: 'total', type: 'long' },
        ],
      }),
    });
    const text = BASE_MAPPING.replace(
      'format: json, key: orderId',
      'format: avro, schema: placed.avsc, key: orderId',
    ).replace('      total: { from: total, as: decimal, scale: 2 }\n', '      total: total\n');
    const pipeline = await compileText(text, { dir });
    expect(await pipeline.process(jsonRecord(order))).toMatchObject({
      kind: 'quarantine',
      stage: 'encode',
      issues: [{ code: 'encode.schema-mismatch', path: 'total' }],
    });
  });

  it('quarantines a record its output topic could not take, before its clock moves', async () => {
    const clocks = new InMemoryClocks();
    const pipeline = await compileText(BASE_MAPPING, { clocks });
    pipeline.limitOutputs(new Map([['sales.placed', 2500]]));
    expect(outputs(await pipeline.process(jsonRecord(order)))).toHaveLength(1);
    const huge = { ...order, event_id: 'e-2', order_id: 'o-'.padEnd(1000, 'x') };
    expect(await pipeline.process(jsonRecord(huge))).toMatchObject({
      kind: 'quarantine',
      stage: 'encode',
      issues: [
        {
          code: 'encode.too-large',
          message: expect.stringMatching(
            /^the record for sales\.placed would take about \d+ bytes; the topic takes at most 2500/,
          ) as string,
        },
      ],
    });
    expect(clocks.current(huge.order_id)).toBeUndefined();
    expect(clocks.current(order.order_id)).toEqual({ erp: 1 });
  });

  it('quarantines a record with more headers or header bytes than allowed, before trust runs', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    const flood: Record<string, string | string[]> = { repeated: ['a', 'b'] };
    for (let i = 0; i < 1_000; i++) flood[`h${i}`] = 'x';
    // 1,002 headers (a repeated name counts each time), and no signature: the limit comes first.
    expect(await pipeline.process(jsonRecord(order, { headers: flood }))).toMatchObject({
      kind: 'quarantine',
      stage: 'trust',
      issues: [{ code: 'trust.too-many-headers', path: 'headers' }],
    });
    pipeline.limitEnvelope({ maxHeaders: 5, maxHeaderBytes: 100, maxRecordBytes: 1 << 20 });
    const fits = { a: 'x'.repeat(40), b: Buffer.alloc(40) };
    expect((await pipeline.process(jsonRecord(order, { headers: fits }))).kind).toBe('pass');
    const heavy = { ...fits, c: 'é'.repeat(10) }; // 20 bytes, 10 characters: bytes count
    expect(await pipeline.process(jsonRecord(order, { headers: heavy }))).toMatchObject({
      kind: 'quarantine',
      issues: [
        {
          code: 'trust.headers-too-large',
          message: '103 bytes of headers, more than 100 (limit MEMBRANE_MAX_HEADER_BYTES)',
        },
      ],
    });
    expect(
      await pipeline.process(
        jsonRecord(order, { headers: { a: ['1', '2', '3'], b: ['4', '5', '6'] } }),
      ),
    ).toMatchObject({ issues: [{ code: 'trust.too-many-headers' }] });
  });

  it('quarantines a record whose key and value exceed MEMBRANE_MAX_RECORD_BYTES before anything reads it', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    const record = jsonRecord(order);
    const size = (record.key?.length ?? 0) + (record.value?.length ?? 0);
    pipeline.limitEnvelope({ maxHeaders: 10, maxHeaderBytes: 1000, maxRecordBytes: size });
    // At the limit it is judged as usual.
    expect((await pipeline.process(record)).kind).toBe('pass');
    pipeline.limitEnvelope({ maxHeaders: 10, maxHeaderBytes: 1000, maxRecordBytes: size - 1 });
    expect(await pipeline.process(record)).toMatchObject({
      kind: 'quarantine',
      stage: 'trust',
      issues: [
        {
          code: 'trust.record-too-large',
          path: '',
          message: `key and value take ${size} bytes, more than ${size - 1} (limit MEMBRANE_MAX_RECORD_BYTES)`,
        },
      ],
    });
  });

  it('quarantines a refused batch, standing for the records it could not be decoded into, before anything reads it', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    // Even when its value would pass: the value is the whole batch, not a record.
    const record = jsonRecord(order, {
      offset: '1500',
      refusedBatch: {
        firstOffset: '500',
        lastOffset: '1500',
        compression: 1,
        reason: 'compressed batch refused: it declares 1001 records, more than 1000',
      },
    });
    expect(await pipeline.process(record)).toEqual({
      kind: 'quarantine',
      stage: 'trust',
      id: undefined,
      issues: [
        {
          code: 'trust.batch-refused',
          path: '',
          message:
            'the gzip batch at offsets 500–1500 could not be decoded into records (compressed batch refused: it declares 1001 records, more than 1000); the value is the batch as stored, these offsets are committed past (limits MEMBRANE_MAX_BATCH_RECORDS, MEMBRANE_MAX_BATCH_BYTES)',
        },
      ],
    });
  });

  it('says where the unprocessed records of a refused batch begin when those before were processed', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    const record = jsonRecord(order, {
      offset: '1500',
      refusedBatch: {
        firstOffset: '500',
        lastOffset: '1500',
        compression: 4,
        reason: 'compressed batch refused: it declares 1001 records, more than 1000',
        from: '700',
      },
    });
    const result = await pipeline.process(record);
    expect(result.kind === 'quarantine' && result.issues[0]?.message).toBe(
      'the zstd batch at offsets 500–1500 could not be decoded into records (compressed batch refused: it declares 1001 records, more than 1000); the value is the batch as stored, these offsets are committed past (limits MEMBRANE_MAX_BATCH_RECORDS, MEMBRANE_MAX_BATCH_BYTES); its records before offset 700 were processed before it was refused, only 700–1500 were not',
    );
  });

  it('refuses an aggregate key or event ID longer than 1024 characters: they live in task state', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    expect(
      await pipeline.process(jsonRecord({ ...order, order_id: 'o'.repeat(400_000) })),
    ).toMatchObject({
      kind: 'quarantine',
      issues: [
        {
          code: 'stamp.missing-identity',
          path: 'order_id',
          message: 'aggregate key is 400000 characters long, more than the 1024 allowed',
        },
      ],
    });
    expect(
      (await pipeline.process(jsonRecord({ ...order, order_id: 'o'.repeat(1024) }))).kind,
    ).toBe('pass');
  });

  it('treats a header without a value (null, as Kafka allows) as absent', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    const headers = { trace: null, 'x-correlation-id': [null, 'c-1'] } as unknown as Record<
      string,
      string
    >;
    const [out] = outputs(await pipeline.process(jsonRecord(order, { headers })));
    expect(out?.headers['membrane.correlation-id']).toBeUndefined();
    pipeline.limitEnvelope({ maxHeaders: 2, maxHeaderBytes: 100, maxRecordBytes: 1 << 20 });
    expect(await pipeline.process(jsonRecord(order, { headers }))).toMatchObject({
      issues: [{ code: 'trust.too-many-headers' }],
    });
  });

  it('keeps at most 100 issues of a record, counting the rest, and converts `record` once for an `each`', async () => {
    const pipeline = await compileText(
      BASE_MAPPING.replace(
        '      total: { from: total, as: decimal, scale: 2 }',
        '      total: { from: total, as: decimal, scale: 2 }\n      lines: { each: lines, map: { sku: sku, currency: { expr: record.currency } } }',
      ),
    );
    // 50,000 elements that are not objects: one issue each, 100 kept.
    const bad = await pipeline.process(jsonRecord({ ...order, lines: Array(50_000).fill(0) }));
    expect(bad.kind).toBe('quarantine');
    const issues = bad.kind === 'quarantine' ? bad.issues : [];
    expect(issues).toHaveLength(100);
    expect(issues[99]).toEqual({
      code: 'map.invalid-type',
      path: 'lines[99]',
      message: '…and 49901 more issues (expected an object, got 0)',
    });
    // 100,000 elements, each reading the whole record in CEL (quadratic before: hours).
    const lines = Array.from({ length: 100_000 }, (_, i) => ({ sku: `S-${i}` }));
    const [out] = outputs(await pipeline.process(jsonRecord({ ...order, currency: 'EUR', lines })));
    const translated = JSON.parse(out?.value.toString() ?? '') as { lines: unknown[] };
    expect(translated.lines).toHaveLength(100_000);
    expect(translated.lines[99_999]).toEqual({ sku: 'S-99999', currency: 'EUR' });
  });

  it('encodes Avro in the Confluent wire format with the ID registered at startup', async () => {
    const registry = new InMemorySchemaRegistry();
    const dir = await folderWith({
      'placed.avsc': JSON.stringify({
        type: 'record',
        name: 'Placed',
        fields: [
          { name: 'orderId', type: 'string' },
          { name: 'total', type: 'long' },
        ],
      }),
    });
    const text = BASE_MAPPING.replace(
      'format: json, key: orderId',
      'format: avro, schema: placed.avsc, key: orderId',
    );
    const [out] = outputs(
      await (await compileText(text, { dir, registry })).process(jsonRecord(order)),
    );
    const value = out?.value ?? Buffer.alloc(0);
    expect(value[0]).toBe(0);
    const schema = await registry.schemaById(value.readInt32BE(1));
    expect(schema?.fromBuffer(value.subarray(5))).toEqual({ orderId: 'o-1', total: 1250 });
  });
});

/** A result the runtime can act on: outputs with IDs, a quarantine with known codes, or a reason. */
function wellFormed(result: PipelineResult): boolean {
  if (result.kind === 'pass')
    return (
      result.outputs.length > 0 && result.outputs.every((o) => validate(o.id) && o.value.length > 0)
    );
  if (result.kind === 'drop') return result.reason.length > 0;
  return (
    result.issues.length > 0 &&
    result.issues.every((i) => ISSUE_CODES.includes(i.code)) &&
    result.stage === stageOf(result.issues[0]?.code ?? 'decode.empty-value')
  );
}

describe('the example legacy-orders pipeline under arbitrary input', () => {
  const env = { ERP_HMAC_KEY_1: 'k-one', ERP_HMAC_KEY_2: 'k-two' };
  const load = async (): Promise<Awaited<ReturnType<typeof compileMapping>>> =>
    compileMapping(
      await loadMappingFile(join(projectRoot(), 'mappings', 'legacy-orders.yaml'), env),
      {
        registry: new InMemorySchemaRegistry(),
        clocks: new InMemoryClocks(),
      },
    );
  const signed = (value: Buffer): Record<string, string> => ({
    'x-source-system': 'legacy-erp',
    'x-key-id': 'k1',
    'x-signature': signErp(value, 'k-one'),
  });

  it('never throws for arbitrary (validly signed) bytes', async () => {
    const pipeline = await load();
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 200 }), async (bytes) => {
        const value = Buffer.from(bytes);
        const result = await pipeline.process(sourceRecord({ value, headers: signed(value) }));
        return wellFormed(result);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws for arbitrary JSON objects, even ones shaped like orders', async () => {
    const pipeline = await load();
    const orderish = fc.record(
      {
        event_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        type: fc.constantFrom('C', 'X', 'T', 'Z', 1, null),
        schema_version: fc.oneof(fc.constantFrom(1, 2, 3, '2'), fc.anything()),
        order_id: fc.oneof(fc.string(), fc.integer()),
        customer_no: fc.anything(),
        total_amount: fc.oneof(fc.string(), fc.double(), fc.constant('12.50')),
        created: fc.oneof(fc.string(), fc.constant('21.11.2026 14:05')),
        status: fc.oneof(fc.constantFrom('N', 'P', 'Q'), fc.anything()),
        line_items: fc.oneof(
          fc.array(
            fc.record({
              sku: fc.anything(),
              qty: fc.anything(),
              unit_price: fc.anything(),
              weight_g: fc.anything(),
            }),
          ),
          fc.anything(),
        ),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(orderish, fc.object()), async (object) => {
        const value = Buffer.from(JSON.stringify(object));
        const result = await pipeline.process(sourceRecord({ value, headers: signed(value) }));
        return wellFormed(result);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('invariants', () => {
  it('name the rule that does not hold, and say when a rule cannot be evaluated', async () => {
    // `broken` type-checks (validate refuses unknown names) but fails on this record: 'o-1'
    // is not an integer.
    const text = `${BASE_MAPPING}    invariants:\n      - { name: positive, rule: total > 0, message: an order must cost something }\n      - { name: broken, rule: 'int(orderId) > 1' }\n`;
    const pipeline = await compileText(text);
    const result = await pipeline.process(jsonRecord({ ...order, total: '0' }));
    expect(result).toMatchObject({
      kind: 'quarantine',
      stage: 'validate',
      issues: [
        { code: 'validate.invariant', rule: 'positive', message: 'an order must cost something' },
        { code: 'validate.expression-failed', rule: 'broken' },
      ],
    });
  });
});

describe('duplicate suppression', () => {
  it('drops a redelivered event as a duplicate, without advancing its clock', async () => {
    const clocks = new InMemoryClocks();
    const dedup = new TransactionalDedup(10);
    const pipeline = await compileText(BASE_MAPPING);
    const first = await pipeline.process(jsonRecord(order), clocks, dedup);
    expect(first.kind).toBe('pass');
    const again = await pipeline.process(jsonRecord(order, { offset: '43' }), clocks, dedup);
    expect(again).toEqual({
      kind: 'drop',
      reason: DUPLICATE,
      cause: { kind: 'duplicate', route: undefined, reason: DUPLICATE },
      id: first.kind === 'pass' ? first.outputs[0]?.id : '',
    });
    expect(clocks.current('o-1')).toEqual({ erp: 1 });
  });

  it('remembers a bounded window, oldest first, and forgets what a rollback undoes', () => {
    const dedup = new TransactionalDedup(3);
    for (const id of ['a', 'b', 'c']) dedup.remember(id);
    dedup.commit();
    dedup.remember('d');
    dedup.remember('e');
    expect(dedup.evictions()).toEqual(['a', 'b']);
    dedup.commit();
    expect(['a', 'b', 'c', 'd', 'e'].map((id) => dedup.seen(id))).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    dedup.remember('f');
    dedup.rollback();
    expect(dedup.seen('f')).toBe(false);
  });
});

describe('upstream clocks', () => {
  const withClock = (extra = ''): string =>
    BASE_MAPPING.replace(
      '  event: event_id\n',
      `  event: event_id\n  clock: { header: x-vclock${extra} }\n`,
    );

  it('refuses a clock that is not one, or has too many components', async () => {
    const pipeline = await compileText(withClock(', maxComponents: 2'));
    expect(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': 'yesterday' } })),
    ).toMatchObject({
      kind: 'quarantine',
      issues: [{ code: 'stamp.invalid-clock', path: 'headers.x-vclock' }],
    });
    expect(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"a":1,"b":1,"c":1}' } })),
    ).toMatchObject({
      kind: 'quarantine',
      issues: [{ code: 'stamp.invalid-clock', message: '3 components, more than the 2 allowed' }],
    });
  });

  it('refuses a clock that would grow the aggregate clock past maxComponents once merged, leaving it as it was', async () => {
    const clocks = new InMemoryClocks();
    clocks.clocks.set('o-1', { erp: 1, wms: 1 });
    const pipeline = await compileText(withClock(', maxComponents: 3'), { clocks });
    // Alone it has 2 components; merged with {erp, wms} it would have 4.
    expect(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"crm":1,"pos":1}' } })),
    ).toMatchObject({
      kind: 'quarantine',
      stage: 'stamp',
      issues: [
        {
          code: 'stamp.invalid-clock',
          path: 'headers.x-vclock',
          message: expect.stringContaining('4 components, more than the 3 allowed') as unknown,
        },
      ],
    });
    expect(clocks.current('o-1')).toEqual({ erp: 1, wms: 1 });
    // One new component fits: erp, wms, crm.
    const [out] = outputs(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"crm":1}' } })),
    );
    expect(out?.headers['membrane.vclock']).toBe('{"crm":1,"erp":2,"wms":1}');
  });

  it('quarantines a concurrent upstream clock when the mapping says so, leaving the clock as it was', async () => {
    const clocks = new InMemoryClocks();
    clocks.clocks.set('o-1', { erp: 1, wms: 1 });
    const pipeline = await compileText(withClock(', onConcurrent: quarantine'), { clocks });
    expect(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"crm":1}' } })),
    ).toMatchObject({
      kind: 'quarantine',
      stage: 'stamp',
      issues: [{ code: 'stamp.concurrent-clock' }],
    });
    expect(clocks.current('o-1')).toEqual({ erp: 1, wms: 1 });
    // A clock that has seen the aggregate's passes and merges.
    const [out] = outputs(
      await pipeline.process(jsonRecord(order, { headers: { 'x-vclock': '{"erp":1,"wms":2}' } })),
    );
    expect(out?.headers['membrane.vclock']).toBe('{"erp":2,"wms":2}');
  });
});
