import avro, { type Type } from 'avsc';
import { MembraneError, messageOf } from '../../core/errors.js';
import type { SchemaRegistryPort } from '../../pipeline/ports.js';
import type { RegistryOptions } from './client.js';

export const REGISTRY_ERROR_CODES = [
  'registry.unavailable',
  'registry.rejected',
  'registry.invalid-answer',
] as const;

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * The pipeline's registry port, speaking the Confluent REST API with `fetch`. Not through
 * @kafkajs/confluent-schema-registry: its HTTP layer (mappersmith) reports a refused
 * connection as "HTTP 400", and telling an outage (retry, never quarantine) from a real
 * answer is the one thing this port must get right. 404 → unknown schema; other 4xx →
 * `registry.rejected`; 5xx, timeouts and network errors → retriable `registry.unavailable`.
 */
export class ConfluentRegistryPort implements SchemaRegistryPort {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly byId = new Map<number, Type | undefined>();
  private readonly registered = new Map<string, number>();

  constructor(options: RegistryOptions & { readonly timeoutMs?: number }) {
    this.base = options.url.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.headers = { accept: `${CONTENT_TYPE}, application/json` };
    if (options.username !== undefined) {
      const token = Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64');
      this.headers['authorization'] = `Basic ${token}`;
    }
  }

  private async call(
    path: string,
    action: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: unknown }> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        ...init,
        headers: { ...this.headers, ...(init.body ? { 'content-type': CONTENT_TYPE } : {}) },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new MembraneError(
        'registry.unavailable',
        `The schema registry at ${this.base} could not ${action}: ${messageOf(error)}.`,
        {
          retriable: true,
          cause: error,
        },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.status >= 500 || response.status === 429) {
      throw new MembraneError(
        'registry.unavailable',
        `The schema registry could not ${action}: HTTP ${response.status} ${text.slice(0, 200)}`,
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
    if (this.byId.has(id)) return this.byId.get(id);
    const { status, body } = await this.call(`/schemas/ids/${id}`, `look up schema ${id}`);
    if (status === 404) return undefined; // not cached: a lagging registry may learn it
    if (status !== 200) {
      throw new MembraneError(
        'registry.rejected',
        `The schema registry refused to look up schema ${id}: HTTP ${status}.`,
      );
    }
    const answer = body as { schema?: unknown; schemaType?: unknown } | undefined;
    let type: Type | undefined;
    if (answer?.schemaType === undefined || answer.schemaType === 'AVRO') {
      try {
        type = avro.Type.forSchema(JSON.parse(String(answer?.schema)) as avro.Schema);
      } catch (error) {
        throw new MembraneError(
          'registry.invalid-answer',
          `Schema ${id} from the registry is not valid Avro: ${messageOf(error)}.`,
          {
            cause: error,
          },
        );
      }
    }
    // A JSON Schema or Protobuf ID: the bytes are not Avro, which decode reports as unknown.
    this.byId.set(id, type);
    return type;
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
