import avro, { type Type } from 'avsc';
import { MembraneError, messageOf } from '../../core/errors.js';
import { redactError, redactUrl, redactUrlsIn, splitCredentials } from '../../core/redact.js';
import type { SchemaRegistryPort } from '../../pipeline/ports.js';
import { UnparseableSchemaError } from '../../pipeline/stages/decode.js';
import { authorizationOf, describeFailure, type RegistryOptions } from './client.js';
import { registryFetch } from './connection.js';

export const REGISTRY_ERROR_CODES = [
  'registry.unavailable',
  'registry.rejected',
  'registry.invalid-answer',
  // Not an outage: the record's fault, which decode quarantines (decode.unparseable-schema).
  UnparseableSchemaError.CODE,
] as const;

const stringify = JSON.stringify as (value: unknown) => string | undefined;
const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * The pipeline's registry port, speaking the Confluent REST API with `fetch`. Not through
 * @kafkajs/confluent-schema-registry: its HTTP layer (mappersmith) reports a refused
 * connection as "HTTP 400", and telling an outage (retry, never quarantine) from a real
 * answer is the one thing this port must get right. 404 → unknown schema; other 4xx →
 * `registry.rejected`; 5xx, timeouts and network errors → retriable `registry.unavailable`.
 *
 * A lookup answer that is not the API's (not JSON, no `schema` text: a web page served with
 * 200 by a proxy or the registry's UI) is `registry.invalid-answer`, an infrastructure error.
 * A well-formed answer whose Avro schema avsc cannot parse is the record's fault: the lookup
 * rejects with an {@link UnparseableSchemaError}, cached per ID like a parsed schema, which the
 * decode stage turns into a `decode.unparseable-schema` quarantine.
 *
 * Credentials in the URL (`https://user:secret@host/…`) are sent as Basic auth (explicit
 * `username`/`password` win) and never appear in an error: messages show the URL redacted.
 */
export class ConfluentRegistryPort implements SchemaRegistryPort {
  private readonly base: string;
  /** The base URL as messages show it: no credentials, no query values. */
  private readonly shown: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;
  private readonly byId = new Map<number, Type | UnparseableSchemaError | undefined>();
  private readonly registered = new Map<string, number>();
  /** Whether credentials are sent (for the hint of a refusal). */
  private readonly authenticated: boolean;

  constructor(options: RegistryOptions & { readonly timeoutMs?: number }) {
    const { url } = splitCredentials(options.url);
    this.base = url.replace(/\/+$/, '');
    this.shown = redactUrl(this.base);
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.fetch = registryFetch(options.tls);
    this.headers = { accept: `${CONTENT_TYPE}, application/json` };
    const authorization = authorizationOf(options);
    if (authorization !== undefined) this.headers['authorization'] = authorization;
    this.authenticated = authorization !== undefined;
  }

  private async call(
    path: string,
    action: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await this.fetch(`${this.base}${path}`, {
        ...init,
        headers: { ...this.headers, ...(init.body ? { 'content-type': CONTENT_TYPE } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new MembraneError(
        'registry.unavailable',
        `The schema registry at ${this.shown} could not ${action}: ${describeFailure(error)}.`,
        {
          retriable: true,
          hint: 'check SCHEMA_REGISTRY_URL and that the registry runs and is reachable from here',
          cause: redactError(error),
        },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.status >= 500 || response.status === 429) {
      throw new MembraneError(
        'registry.unavailable',
        `The schema registry could not ${action}: HTTP ${response.status} ${redactUrlsIn(text.slice(0, 200))}`,
        {
          retriable: true,
        },
      );
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body };
  }

  async schemaById(id: number): Promise<Type | undefined> {
    if (this.byId.has(id)) {
      const known = this.byId.get(id);
      if (known instanceof UnparseableSchemaError) throw known;
      return known;
    }
    const { status, body } = await this.call(`/schemas/ids/${id}`, `look up schema ${id}`);
    if (status === 404) return undefined; // not cached: a lagging registry may learn it
    if (status !== 200) {
      throw new MembraneError(
        'registry.rejected',
        `The schema registry refused to look up schema ${id}: HTTP ${status}.`,
      );
    }
    const answer = (body !== null && typeof body === 'object' ? body : {}) as {
      schema?: unknown;
      schemaType?: unknown;
    };
    if (typeof answer.schema !== 'string') {
      throw this.invalidAnswer(id, 'not a JSON object with a "schema" text', body);
    }
    // A JSON Schema or Protobuf ID: the bytes are not Avro, which decode reports as unknown.
    let type: Type | undefined;
    if (answer.schemaType === undefined || answer.schemaType === 'AVRO') {
      let schema: unknown;
      try {
        schema = JSON.parse(answer.schema);
      } catch {
        throw this.invalidAnswer(id, 'its "schema" is not JSON', answer.schema);
      }
      try {
        // A registry of names without a prototype: a writer schema naming a type
        // `toString` or `constructor` (a reference the registry resolved, which avsc is not
        // given) must be an undefined name, not Object.prototype's function.
        type = avro.Type.forSchema(schema as avro.Schema, {
          registry: Object.create(null) as Record<string, Type>,
        });
      } catch (error) {
        const reason = messageOf(error);
        const unparseable = new UnparseableSchemaError(
          id,
          reason,
          schemaFieldOf(schema, reason),
          error,
        );
        this.byId.set(id, unparseable);
        throw unparseable;
      }
    }
    this.byId.set(id, type);
    return type;
  }

  private invalidAnswer(id: number, what: string, body: unknown): MembraneError {
    // JSON.stringify gives undefined for undefined; its declared type hides that.
    const text = typeof body === 'string' ? body : (stringify(body) ?? 'nothing');
    const shown = text.length > 120 ? `${text.slice(0, 120)}…` : text;
    return new MembraneError(
      'registry.invalid-answer',
      `The schema registry's answer for schema ${id} is ${what}: ${shown}`,
      {
        hint: `check that the registry URL (${this.shown}) is a Confluent-compatible API, e.g. Apicurio's /apis/ccompat/v7`,
      },
    );
  }

  async register(subject: string, schema: Type): Promise<number> {
    const text = JSON.stringify(schema.schema());
    const key = `${subject}\u0000${text}`;
    const known = this.registered.get(key);
    if (known !== undefined) return known;
    const { status, body } = await this.call(
      `/subjects/${encodeURIComponent(subject)}/versions`,
      `register a schema under ${subject}`,
      {
        method: 'POST',
        body: JSON.stringify({ schema: text, schemaType: 'AVRO' }),
      },
    );
    if (status === 401 || status === 403)
      throw new MembraneError(
        'registry.unauthorized',
        `The schema registry at SCHEMA_REGISTRY_URL=${this.shown} refused to register a schema under ${subject} (HTTP ${status}).`,
        {
          hint: this.authenticated
            ? 'check SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD (or SCHEMA_REGISTRY_BEARER_TOKEN), and that they may register schemas'
            : 'set SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_BEARER_TOKEN',
        },
      );
    const id = (body as { id?: unknown } | undefined)?.id;
    if (status !== 200 || typeof id !== 'number') {
      throw new MembraneError(
        'registry.rejected',
        `The schema registry refused the schema for ${subject}: HTTP ${status} ${JSON.stringify(body).slice(0, 300)}`,
        { hint: 'check the subject’s compatibility rules against the schema file' },
      );
    }
    this.registered.set(key, id);
    return id;
  }
}

const DEFAULT = 'incompatible field default ';
const NAME = /^invalid field name: (.*)$/s;

/**
 * The field an avsc schema error is about, as a dotted path (`inner.qty`; `lines[].qty`
 * through array items, `attrs{}.unit` through map values), found from avsc's message: it
 * quotes a bad default or field name but not the field. '' unless exactly one field fits.
 * Iterative: the schema came from elsewhere and may nest deeper than the stack.
 */
export function schemaFieldOf(schema: unknown, message: string): string {
  const byDefault = message.startsWith(DEFAULT) ? message : undefined;
  const byName = NAME.exec(message)?.[1];
  if (byDefault === undefined && byName === undefined) return '';
  const matches: string[] = [];
  const stack: { node: unknown; prefix: string }[] = [{ node: schema, prefix: '' }];
  while (stack.length > 0 && matches.length < 2) {
    const { node, prefix } = stack.pop() as { node: unknown; prefix: string };
    if (Array.isArray(node)) {
      for (const branch of node) stack.push({ node: branch, prefix });
      continue;
    }
    if (node === null || typeof node !== 'object') continue;
    const { type, fields, items, values } = node as Record<string, unknown>;
    if (Array.isArray(fields)) {
      for (const field of fields as unknown[]) {
        if (field === null || typeof field !== 'object') continue;
        const { name, default: value } = field as { name?: unknown; default?: unknown };
        const path = prefix === '' ? String(name) : `${prefix}.${String(name)}`;
        if (
          (byName !== undefined && String(name) === byName) ||
          (byDefault !== undefined &&
            value !== undefined &&
            byDefault.startsWith(`${DEFAULT}${JSON.stringify(value)} (`))
        )
          matches.push(path);
        stack.push({ node: (field as { type?: unknown }).type, prefix: path });
      }
    }
    if (type === 'array') stack.push({ node: items, prefix: `${prefix}[]` });
    else if (type === 'map') stack.push({ node: values, prefix: `${prefix}{}` });
    else if (type !== null && typeof type === 'object') stack.push({ node: type, prefix });
  }
  return matches.length === 1 ? (matches[0] ?? '') : '';
}
