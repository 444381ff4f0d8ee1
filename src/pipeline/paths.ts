import { PROTOTYPE_KEYS, setOwn } from '../core/objects.js';

/** Field paths (`customer.address.city`, `lines[0].sku`) compiled once into key lists. */
export type CompiledPath = readonly (string | number)[];

export function compilePath(path: string): CompiledPath {
  const parts: (string | number)[] = [];
  for (const segment of path.split('.')) {
    const match = /^([^[\]]+)(?:\[(\d+)\])?$/.exec(segment);
    if (!match?.[1]) throw new Error(`not a field path: ${path}`);
    if (PROTOTYPE_KEYS.has(match[1])) throw new Error(`reserved name in field path: ${path}`);
    parts.push(match[1]);
    if (match[2] !== undefined) parts.push(Number(match[2]));
  }
  return parts;
}

/** The value at `path`, or undefined; reads own properties only. */
export function getPath(root: unknown, path: CompiledPath): unknown {
  let current = root;
  for (const part of path) {
    if (current === null || typeof current !== 'object') return undefined;
    if (typeof part === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[part] as unknown;
    } else {
      if (!Object.hasOwn(current, part)) return undefined;
      current = (current as Record<string, unknown>)[part];
    }
  }
  return current;
}

/** Sets `path` in a plain-object tree, creating objects on the way. */
export function setPath(root: Record<string, unknown>, path: CompiledPath, value: unknown): void {
  let current: Record<string | number, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const part = path[i] as string | number;
    // Own properties only: a path never walks into a prototype.
    const next = Object.hasOwn(current, part) ? current[part] : undefined;
    if (next === null || typeof next !== 'object') {
      const created: Record<string, unknown> = {};
      setOwn(current, String(part), created);
      current = created;
    } else {
      current = next as Record<string | number, unknown>;
    }
  }
  setOwn(current, String(path[path.length - 1]), value);
}

/** Removes `path`; true when something was there. */
export function deletePath(root: Record<string, unknown>, path: CompiledPath): boolean {
  const parent = getPath(root, path.slice(0, -1));
  const last = path[path.length - 1];
  if (parent === null || typeof parent !== 'object' || last === undefined) return false;
  if (Array.isArray(parent) || !Object.hasOwn(parent, last)) return false;
  return Reflect.deleteProperty(parent, last);
}

export function formatFieldPath(path: CompiledPath): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`))
    .join('');
}
