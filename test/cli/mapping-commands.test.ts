import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/infra/paths.js';
import { runCli } from '../support/cli.js';
import { BASE_MAPPING, folderWith } from '../support/mappings.js';

const env = { PATH: process.env['PATH'], HOME: process.env['HOME'] };

describe('membrane validate', () => {
  it('passes the example mappings with the example env file', async () => {
    const result = await runCli(
      ['validate', '--env-file', 'mappings/example.env', 'mappings'],
      env,
    );
    expect(result.stdout).toMatch(
      /^ok {4}mappings\/legacy-orders\.yaml \(legacy-orders@3: erp\.orders → sales\.order-placed\.v1, sales\.order-cancelled\.v1\)$/m,
    );
    expect(result.stdout).toMatch(/^2 valid, 0 invalid$/m);
    expect(result.code).toBe(0);
  });

  it('fails with file:line:col for every problem, and exit code 1', async () => {
    const dir = await folderWith({
      'good.yaml': BASE_MAPPING,
      'bad.yaml': BASE_MAPPING.replace('  event: event_id', '  evnt: event_id').replace(
        'as: decimal',
        'as: decmal',
      ),
    });
    const result = await runCli(['validate', dir], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`FAIL  ${join(dir, 'bad.yaml')}`);
    expect(result.stdout).toContain(
      `  ${join(dir, 'bad.yaml')}:9:3: identity.evnt: unknown key "evnt" (did you mean "event"?`,
    );
    expect(result.stdout).toContain(
      `  ${join(dir, 'bad.yaml')}:15:33: events[0].map.total.as: Invalid option`,
    );
    expect(result.stdout).toMatch(/^1 valid, 1 invalid$/m);
  });

  it('names a missing environment variable', async () => {
    const result = await runCli(['validate', 'mappings/legacy-orders.yaml'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      /legacy-orders\.yaml:\d+:\d+: trust\.signature\.keys\.k1: environment variable ERP_HMAC_KEY_1 is not set/,
    );
  });
});

describe('membrane test', () => {
  it('runs the example test files', async () => {
    const result = await runCli(['test'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('mappings/legacy-orders.test.yaml (legacy-orders@3)');
    expect(result.stdout).toMatch(/^\d+ passed, 0 failed$/m);
  });

  it('shows a readable diff for a failing case and exits 1', async () => {
    const dir = await folderWith({
      'orders.yaml': BASE_MAPPING,
      'orders.test.yaml': [
        'mapping: orders.yaml',
        'cases:',
        '  - name: translates the total',
        "    input: { value: { event_id: e-1, order_id: o-1, total: '12.50' } }",
        '    expect:',
        '      outputs:',
        '        - { topic: sales.placed, key: o-1, value: { orderId: o-1, total: 1200 } }',
        '  - name: expects a quarantine that does not come',
        "    input: { value: { event_id: e-2, order_id: o-2, total: '1' } }",
        '    expect: { quarantine: map.cast-failed }',
        '',
      ].join('\n'),
    });
    const result = await runCli(['test', dir], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('✗ translates the total');
    expect(result.stdout).toContain('outputs[0].value.total: expected 1200, got 1250');
    expect(result.stdout).toContain(
      'expected quarantine map.cast-failed, got outputs to sales.placed',
    );
    expect(result.stdout).toMatch(/^0 passed, 2 failed$/m);
  });
});

describe('membrane schema', () => {
  it('prints the JSON Schema of mapping files', async () => {
    const result = await runCli(['schema'], { ...env });
    const schema = JSON.parse(result.stdout) as {
      title: string;
      properties: Record<string, unknown>;
    };
    expect(schema.title).toBe('membrane mapping');
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['name', 'version', 'source', 'events']),
    );
    expect(projectRoot()).toBeTruthy();
  });
});
