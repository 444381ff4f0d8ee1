import { issue, shown } from '../../core/issues.js';
import { pass, quarantine, type Verdict } from '../../core/verdict.js';
import {
  compilePath,
  deletePath,
  formatFieldPath,
  getPath,
  setPath,
  type CompiledPath,
} from '../paths.js';
import type { DecodedRecord } from './decode.js';

/**
 * upcast — brings old upstream shapes to the current one before mapping: for each version
 * N below the current, the declared steps (rename, default, set, remove) lead to N+1.
 */
export interface UpcastConfig {
  readonly field: string;
  readonly current: number;
  readonly steps: Readonly<
    Record<
      string,
      {
        readonly rename?: Readonly<Record<string, string>> | undefined;
        readonly default?: Readonly<Record<string, unknown>> | undefined;
        readonly set?: Readonly<Record<string, unknown>> | undefined;
        readonly remove?: readonly string[] | undefined;
      }
    >
  >;
}

export type UpcastStage = (record: DecodedRecord) => Verdict<DecodedRecord>;

interface CompiledStep {
  readonly rename: readonly (readonly [CompiledPath, CompiledPath])[];
  readonly defaults: readonly (readonly [CompiledPath, unknown])[];
  readonly sets: readonly (readonly [CompiledPath, unknown])[];
  readonly removes: readonly CompiledPath[];
}

export function createUpcastStage(config: UpcastConfig): UpcastStage {
  const field = compilePath(config.field);
  const steps = new Map<number, CompiledStep>();
  for (const [version, step] of Object.entries(config.steps)) {
    steps.set(Number(version), {
      rename: Object.entries(step.rename ?? {}).map(
        ([from, to]) => [compilePath(from), compilePath(to)] as const,
      ),
      defaults: Object.entries(step.default ?? {}).map(
        ([path, value]) => [compilePath(path), value] as const,
      ),
      sets: Object.entries(step.set ?? {}).map(
        ([path, value]) => [compilePath(path), value] as const,
      ),
      removes: (step.remove ?? []).map(compilePath),
    });
  }
  const where = formatFieldPath(field);

  return (record) => {
    const raw = getPath(record, field);
    const version = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
    if (version === config.current) return pass(record);
    if (
      typeof version !== 'number' ||
      !Number.isInteger(version) ||
      version > config.current ||
      version < 1
    ) {
      return quarantine(
        issue(
          'upcast.unknown-version',
          where,
          `version ${shown(raw)} is not one this mapping knows (current: ${config.current})`,
        ),
      );
    }
    const upcasted = structuredClone(record);
    for (let v = version; v < config.current; v++) {
      const step = steps.get(v);
      if (!step) {
        return quarantine(
          issue('upcast.unknown-version', where, `no upcast step from version ${v} to ${v + 1}`),
        );
      }
      for (const [from, to] of step.rename) {
        const value = getPath(upcasted, from);
        if (value !== undefined && deletePath(upcasted, from)) setPath(upcasted, to, value);
      }
      for (const [path, value] of step.defaults) {
        const existing = getPath(upcasted, path);
        if (existing === undefined || existing === null)
          setPath(upcasted, path, structuredClone(value));
      }
      for (const [path, value] of step.sets) setPath(upcasted, path, structuredClone(value));
      for (const path of step.removes) deletePath(upcasted, path);
    }
    setPath(upcasted, field, config.current);
    return pass(upcasted);
  };
}
