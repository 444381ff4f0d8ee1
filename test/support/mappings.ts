import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileMapping } from '../../src/mapping/compile.js';
import { loadMappingText, MappingError } from '../../src/mapping/load.js';
import type { Pipeline } from '../../src/pipeline/pipeline.js';
import {
  InMemoryClocks,
  InMemorySchemaRegistry,
  type ClockPort,
  type SchemaRegistryPort,
} from '../../src/pipeline/ports.js';

/** A minimal valid mapping; tests replace parts of it. */
export const BASE_MAPPING = `name: orders
version: 1
source:
  system: erp
  topics: [erp.orders]
  format: json
identity:
  aggregate: order_id
  event: event_id
events:
  - name: placed
    to: { topic: sales.placed, format: json, key: orderId }
    map:
      orderId: order_id
      total: { from: total, as: decimal, scale: 2 }
`;

/** Writes files into a fresh folder; returns its path. */
export async function folderWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'membrane-mapping-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** Loads and compiles mapping text (as if it were `dir/mapping.yaml`). */
export async function compileText(
  text: string,
  options: {
    dir?: string;
    env?: NodeJS.ProcessEnv;
    registry?: SchemaRegistryPort;
    clocks?: ClockPort;
  } = {},
): Promise<Pipeline> {
  const dir = options.dir ?? (await folderWith({}));
  const loaded = loadMappingText(text, join(dir, 'mapping.yaml'), options.env ?? {});
  return compileMapping(loaded, {
    registry: options.registry ?? new InMemorySchemaRegistry(),
    clocks: options.clocks ?? new InMemoryClocks(),
  });
}

/** The problems a mapping text fails with, as `line:column path: message` lines. */
export async function problemsOf(
  text: string,
  options: { dir?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string[]> {
  try {
    await compileText(text, options);
  } catch (error) {
    if (error instanceof MappingError) {
      return error.problems.map(
        (p) => `${p.line}:${p.column} ${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`,
      );
    }
    throw error;
  }
  return [];
}
