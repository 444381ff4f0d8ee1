import { z } from 'zod';
import { MembraneError } from '../core/errors.js';

const hostPort = z.string().regex(/^[^\s:,]+:\d{1,5}$/, 'expected host:port, e.g. 127.0.0.1:9092');

/** Where the cluster and the registry are. Later settings of `membrane run` extend this. */
export const connectionEnvSchema = z.object({
  KAFKA_BROKERS: z
    .string({ error: 'is not set; give a comma-separated list of host:port' })
    .transform((value) =>
      value
        .split(',')
        .map((broker) => broker.trim())
        .filter(Boolean),
    )
    .pipe(z.array(hostPort).min(1, 'needs at least one host:port')),
  SCHEMA_REGISTRY_URL: z
    .url({
      error: 'is not a URL; give the base of a Confluent-compatible API, e.g. http://host:8081',
    })
    .transform((url) => url.replace(/\/+$/, '')),
  SCHEMA_REGISTRY_USERNAME: z.string().optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().optional(),
  KAFKA_CLIENT_ID: z.string().min(1).default('membrane'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type ConnectionConfig = z.output<typeof connectionEnvSchema>;

/** One error naming every variable that is wrong and why; never echoes a password. */
export function loadConnectionConfig(env: NodeJS.ProcessEnv = process.env): ConnectionConfig {
  const result = connectionEnvSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0] ?? '?');
    const shown = name.includes('PASSWORD') || env[name] === undefined ? '' : `=${env[name]}`;
    return `${name}${shown} ${issue.message}`;
  });
  throw new MembraneError('config.invalid', `Invalid configuration: ${problems.join('; ')}.`, {
    hint: 'fix the environment variables named above (see the README, "Configuration")',
  });
}
