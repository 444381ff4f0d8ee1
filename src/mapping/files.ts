import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** A mapping file: YAML, not a test file. */
export const isMappingFile = (path: string): boolean =>
  /\.ya?ml$/.test(path) && !/\.test\.ya?ml$/.test(path);

/** A mapping test file. */
export const isMappingTestFile = (path: string): boolean => /\.test\.ya?ml$/.test(path);

/** The files under the given files and folders that `suffix` accepts, sorted. */
export async function findFiles(
  paths: readonly string[],
  suffix: (name: string) => boolean,
): Promise<string[]> {
  const found: string[] = [];
  const walk = async (path: string): Promise<void> => {
    const info = await stat(path);
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) {
        if (!entry.startsWith('.') && entry !== 'node_modules') await walk(join(path, entry));
      }
    } else if (suffix(path)) {
      found.push(path);
    }
  };
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info) throw new Error(`${path} does not exist`);
    if (info.isDirectory()) await walk(path);
    else found.push(path);
  }
  return [...new Set(found)].sort();
}
