import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  aclRefusal,
  authorizationTypeIn,
  EXIT,
  explain,
  reportError,
  type AclNeed,
} from '../../src/cli/errors.js';
import { MembraneError } from '../../src/core/errors.js';

function report(error: unknown): { code: number; text: string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { code: reportError(error, stream, {}), text };
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

describe('what an error wraps (kafkajs and membrane nest them)', () => {
  const refusal = (type: string): Error =>
    Object.assign(new Error('Not authorized'), { name: 'KafkaJSProtocolError', type });
  const retries = (cause: unknown): Error =>
    Object.assign(new Error('retries exceeded'), {
      name: 'KafkaJSNumberOfRetriesExceeded',
      cause,
    });

  it('an ACL refusal under a restore failure (exit 1 by itself) is exit 77 with what to grant', () => {
    const error = new MembraneError(
      'kafka.restore-failed',
      'Restoring q failed (partitions at 0@0): Not authorized to access topics.',
      { cause: retries(refusal('TOPIC_AUTHORIZATION_FAILED')) },
    );
    const { code, text } = report(error);
    expect(code).toBe(EXIT.permission);
    expect(text).toBe(
      'membrane: Restoring q failed (partitions at 0@0): Not authorized to access topics (TOPIC_AUTHORIZATION_FAILED).\n' +
        '  What to do: grant the principal membrane connects as the ACLs the README lists for this command ("ACLs membrane needs").\n',
    );
  });

  it('finds a refusal in an aggregate and behind originalError', () => {
    const aggregate = Object.assign(new Error('several'), {
      name: 'KafkaJSAggregateError',
      errors: [
        new Error('other'),
        { originalError: refusal('TRANSACTIONAL_ID_AUTHORIZATION_FAILED') },
      ],
    });
    expect(authorizationTypeIn(aggregate)).toBe('TRANSACTIONAL_ID_AUTHORIZATION_FAILED');
    expect(report(aggregate).code).toBe(EXIT.permission);
  });

  it('a crashed consumer that wraps the OAuth endpoint being down is exit 69 with its sentence', () => {
    const down = new MembraneError(
      'kafka.oauth-unreachable',
      'The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=https://idp/token answered HTTP 503.',
      {
        hint: 'the identity provider is failing; retry later, or check KAFKA_SASL_OAUTH_TOKEN_URL',
      },
    );
    const crashed = new MembraneError(
      'kafka.consumer-crashed',
      `The group consumer stopped and cannot recover: ${down.message}`,
      {
        cause: Object.assign(new Error(down.message), {
          name: 'KafkaJSNonRetriableError',
          cause: down,
        }),
      },
    );
    const { code, text } = report(crashed);
    expect(code).toBe(EXIT.unavailable);
    expect(text).toBe(
      'membrane: The OAuth token endpoint KAFKA_SASL_OAUTH_TOKEN_URL=https://idp/token answered HTTP 503.\n' +
        '  What to do: the identity provider is failing; retry later, or check KAFKA_SASL_OAUTH_TOKEN_URL.\n',
    );
  });

  it('a refused login names the OAuth variables when membrane logs in with OAUTHBEARER', () => {
    const refused = new MembraneError(
      'kafka.authentication',
      "The Kafka cluster refused membrane's credentials (SASL_AUTHENTICATION_FAILED).",
      { hint: 'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD' },
    );
    const explained = explain(refused, { KAFKA_SASL_MECHANISM: 'OAUTHBEARER' });
    expect(explained).toMatchObject({ code: 'kafka.authentication' });
    expect((explained as MembraneError).hint).toMatch(
      /^check KAFKA_SASL_OAUTH_TOKEN_URL, KAFKA_SASL_OAUTH_CLIENT_ID/,
    );
    expect(explain(refused, { KAFKA_SASL_MECHANISM: 'scram-sha-512' })).toBe(refused);
  });

  it('aclRefusal names the ACLs of the kind refused, and the SCRAM user to grant them to', () => {
    const needs: AclNeed[] = [
      { operations: ['DESCRIBE', 'READ'], resource: 'topic', name: 'q' },
      {
        operations: ['DESCRIBE', 'WRITE'],
        resource: 'transactional ID',
        name: 'membrane-replay.q',
      },
    ];
    const error = aclRefusal(
      retries(refusal('TRANSACTIONAL_ID_AUTHORIZATION_FAILED')),
      'membrane quarantine replay',
      needs,
      { KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'svc' },
    );
    expect(error).toMatchObject({
      code: 'kafka.authorization',
      message:
        'membrane quarantine replay is not authorised to use transactional ID membrane-replay.q (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).',
      hint: 'allow the principal membrane connects as (User:svc) DESCRIBE and WRITE on transactional ID membrane-replay.q',
    });
    const other = new Error('not an ACL');
    expect(aclRefusal(other, 'membrane status', needs)).toBe(other);
  });
});
