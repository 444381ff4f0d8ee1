import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';

export interface RegistryOptions {
  /** Base URL of a Confluent-compatible API, e.g. `http://host:8080/apis/ccompat/v7`. */
  readonly url: string;
  readonly username?: string;
  readonly password?: string;
}

export function createSchemaRegistry(options: RegistryOptions): SchemaRegistry {
  const auth =
    options.username === undefined
      ? undefined
      : { username: options.username, password: options.password ?? '' };
  return new SchemaRegistry({ host: options.url, ...(auth ? { auth } : {}) });
}

/** Lists subjects through the Confluent API; throws when the registry does not answer it. */
export async function pingRegistry(url: string, timeoutMs = 3000): Promise<readonly string[]> {
  const response = await fetch(`${url.replace(/\/+$/, '')}/subjects`, {
    signal: AbortSignal.timeout(timeoutMs),
    headers: { accept: 'application/vnd.schemaregistry.v1+json, application/json' },
  });
  if (!response.ok) throw new Error(`GET ${url}/subjects answered HTTP ${response.status}`);
  return (await response.json()) as string[];
}
