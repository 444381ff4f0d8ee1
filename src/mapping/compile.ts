import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import avro, { type Type } from 'avsc';
import { compileExpression, type CompiledExpression } from '../pipeline/cel.js';
import { compilePath } from '../pipeline/paths.js';
import { Pipeline, type CompiledRoute } from '../pipeline/pipeline.js';
import type { ClockPort, SchemaRegistryPort } from '../pipeline/ports.js';
import { createDecodeStage } from '../pipeline/stages/decode.js';
import type { EncodeTarget } from '../pipeline/stages/encode.js';
import { createMapStage } from '../pipeline/stages/map.js';
import { createStamper } from '../pipeline/stages/stamp.js';
import { createTrustStage, ed25519PublicKey } from '../pipeline/stages/trust.js';
import { createUpcastStage } from '../pipeline/stages/upcast.js';
import { compileInvariants, createValidateStage } from '../pipeline/stages/validate.js';
import {
  byPosition,
  MappingError,
  type LoadedMapping,
  type MappingProblem,
  type SpecPath,
} from './load.js';
import type { TargetSpec } from './spec.js';

export interface CompileOptions {
  readonly registry: SchemaRegistryPort;
  readonly clocks?: ClockPort;
}

/** Reads an .avsc file, relative to the mapping file; a problem when it is not one. */
async function loadSchema(
  mapping: LoadedMapping,
  file: string,
  path: SpecPath,
  problems: MappingProblem[],
  cache: Map<string, Promise<Type | undefined>>,
): Promise<Type | undefined> {
  const full = resolve(dirname(mapping.file), file);
  let pending = cache.get(full);
  if (!pending) {
    pending = readFile(full, 'utf8').then(
      (text) => avro.Type.forSchema(JSON.parse(text) as avro.Schema),
      (error: unknown) => {
        throw new Error(`cannot read schema file ${full}: ${(error as Error).message}`);
      },
    );
    cache.set(full, pending);
  }
  try {
    return await pending;
  } catch (error) {
    problems.push(
      mapping.problem(
        path,
        (error as Error).message.split('\n')[0] ?? 'invalid schema',
        'paths are relative to the mapping file',
      ),
    );
    return undefined;
  }
}

function expression(
  mapping: LoadedMapping,
  source: string,
  path: SpecPath,
  problems: MappingProblem[],
): CompiledExpression | undefined {
  try {
    return compileExpression(source);
  } catch (error) {
    problems.push(
      mapping.problem(
        path,
        `invalid CEL expression: ${(error as Error).message.split('\n')[0] ?? ''}`,
      ),
    );
    return undefined;
  }
}

/** Field names of an Avro record type, and which of them need a value. */
function recordFields(schema: Type): { all: Set<string>; required: string[] } | undefined {
  const fields = (
    schema as unknown as { fields?: { name: string; defaultValue(): unknown; type: Type }[] }
  ).fields;
  if (!fields) return undefined;
  return {
    all: new Set(fields.map((f) => f.name)),
    required: fields
      .filter(
        (f) =>
          f.defaultValue() === undefined && !(f.type.typeName === 'union' && f.type.isValid(null)),
      )
      .map((f) => f.name),
  };
}

/**
 * A validated mapping → a ready pipeline. Everything that can be done once is done here:
 * expressions parsed, schemas read and registered, keys imported, paths compiled. Every
 * problem found is reported together, with its file, line and column.
 */
export async function compileMapping(
  mapping: LoadedMapping,
  options: CompileOptions,
): Promise<Pipeline> {
  const spec = mapping.spec;
  const problems: MappingProblem[] = [];
  const schemaCache = new Map<string, Promise<Type | undefined>>();

  const signature = spec.trust?.signature;
  if (signature?.algorithm === 'ed25519') {
    for (const [id, key] of Object.entries(signature.keys)) {
      try {
        ed25519PublicKey(key);
      } catch {
        // The key itself is a secret or a key: never echo it.
        problems.push(
          mapping.problem(
            ['trust', 'signature', 'keys', id],
            'is not an Ed25519 public key (PEM, or base64 of the raw 32 bytes)',
          ),
        );
      }
    }
  }

  // A JSON source's schema (Avro or JSON Schema) only types its expressions, when the mapping
  // is loaded (check/meaning.ts); decoding JSON needs no reader schema.
  const reader =
    spec.source.schema && spec.source.format !== 'json'
      ? await loadSchema(mapping, spec.source.schema, ['source', 'schema'], problems, schemaCache)
      : undefined;

  const routes: CompiledRoute[] = [];
  for (const [index, route] of spec.events.entries()) {
    const at: SpecPath = ['events', index];
    const when =
      route.when === undefined
        ? undefined
        : expression(mapping, route.when, [...at, 'when'], problems);
    if (route.drop !== undefined) {
      routes.push({
        name: route.name,
        when,
        drop: route.drop,
        targets: [],
        map: undefined,
        validate: undefined,
      });
      continue;
    }
    const targetSpecs: readonly TargetSpec[] = Array.isArray(route.to)
      ? route.to
      : route.to
        ? [route.to]
        : [];
    const targets: EncodeTarget[] = [];
    const fields = route.map ?? {};
    for (const [t, target] of targetSpecs.entries()) {
      const targetAt: SpecPath = Array.isArray(route.to) ? [...at, 'to', t] : [...at, 'to'];
      const schema =
        target.schema === undefined
          ? undefined
          : await loadSchema(
              mapping,
              target.schema,
              [...targetAt, 'schema'],
              problems,
              schemaCache,
            );
      if (target.format === 'avro' && target.schema === undefined) {
        problems.push(
          mapping.problem(
            targetAt,
            '`format: avro` needs `schema` (an .avsc file)',
            'or use `format: json`',
          ),
        );
      }
      if (schema) {
        const shape = recordFields(schema);
        if (shape) {
          for (const name of Object.keys(fields)) {
            if (!shape.all.has(name)) {
              problems.push(
                mapping.problem(
                  [...at, 'map', name],
                  `field ${name} is not in schema ${schema.name ?? target.schema ?? ''}`,
                  `its fields: ${[...shape.all].join(', ')}`,
                ),
              );
            }
          }
          for (const name of shape.required) {
            if (!Object.hasOwn(fields, name)) {
              problems.push(
                mapping.problem(
                  [...at, 'map'],
                  `schema ${schema.name ?? ''} needs field ${name}, which the map does not set`,
                ),
              );
            }
          }
        }
      }
      // A key that is not a field of the map: checkMeaning (check/meaning.ts) reports it.
      targets.push({
        topic: target.topic,
        format: target.format,
        schema,
        schemaId:
          schema && target.format === 'avro'
            ? await options.registry.register(`${target.topic}-value`, schema)
            : undefined,
        key: target.key === undefined ? undefined : compilePath(target.key),
      });
    }
    const map = createMapStage(fields, [...at, 'map'], (path, message) =>
      problems.push(mapping.problem(path, message)),
    );
    const invariants = compileInvariants(route.invariants, (i, message) =>
      problems.push(mapping.problem([...at, 'invariants', i, 'rule'], message)),
    );
    routes.push({
      name: route.name,
      when,
      drop: undefined,
      targets,
      map,
      validate: createValidateStage(invariants),
    });
  }

  const found = mapping.problems ?? [];
  if (found.length > 0 || problems.length > 0) {
    // The load-time checks said it first (and better) where both looked: a CEL expression's
    // syntax, a zone.
    const said = new Set(found.map((p) => p.path));
    throw new MappingError(byPosition([...found, ...problems.filter((p) => !said.has(p.path))]));
  }

  return new Pipeline({
    name: spec.name,
    version: spec.version,
    system: spec.source.system,
    topics: spec.source.topics,
    trust: createTrustStage({
      ...(spec.trust?.allow ? { allow: spec.trust.allow } : {}),
      ...(signature ? { signature } : {}),
    }),
    decode: createDecodeStage(spec.source.format, { registry: options.registry, reader }),
    upcast: spec.upcast ? createUpcastStage(spec.upcast) : undefined,
    routes,
    otherwise: spec.otherwise,
    stamper: createStamper(
      { name: spec.name, version: spec.version, system: spec.source.system },
      spec.identity,
    ),
    clocks: options.clocks,
  });
}
