import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { EXIT, reportError } from '../../src/cli/errors.js';
import { MembraneError } from '../../src/core/errors.js';

function report(error: unknown): { code: number; text: string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { code: reportError(error, stream), text };
}

describe('exit codes', () => {
  it.each([
    ['kafka.unreachable', EXIT.unavailable],
    ['registry.unreachable', EXIT.unavailable],
    ['registry.unavailable', EXIT.unavailable],
    ['kafka.oauth-unreachable', EXIT.unavailable],
    ['kafka.authentication', EXIT.permission],
    ['kafka.authorization', EXIT.permission],
    ['registry.unauthorized', EXIT.permission],
    ['kafka.oauth-refused', EXIT.permission],
    ['config.invalid', EXIT.config],
    ['kafka.tls-untrusted', EXIT.config],
    ['kafka.tls-mismatch', EXIT.config],
    ['kafka.sasl-mechanism', EXIT.config],
    ['http.port-in-use', EXIT.config],
    ['runtime.bug', EXIT.bug],
    ['kafka.bug', EXIT.bug],
    ['config.no-mappings', EXIT.failure],
    ['cli.not-found', EXIT.failure],
  ])('%s exits %i with its sentence and what to do', (code, exit) => {
    const { code: got, text } = report(new MembraneError(code, 'It failed.', { hint: 'fix it' }));
    expect(got).toBe(exit);
    expect(text).toBe('membrane: It failed.\n  What to do: fix it.\n');
  });

  it('exits 70 with the stack for anything else: a bug', () => {
    const { code, text } = report(new TypeError('boom'));
    expect(code).toBe(70);
    expect(text).toMatch(
      /^membrane: unexpected error \(a bug; please report it with this output\):\nTypeError: boom\n\s+at /,
    );
  });
});
