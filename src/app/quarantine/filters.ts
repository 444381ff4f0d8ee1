import { MembraneError } from '../../core/errors.js';
import type { QuarantinedRecord } from './store.js';

/** What `membrane quarantine list|stats|replay|resolve` select. */
export interface QuarantineFilter {
  /** A glob over the code of the first issue: `trust.*`, `map.cast-failed`. */
  readonly code?: string | undefined;
  readonly stage?: string | undefined;
  /** `name` or `name@version`. */
  readonly mapping?: string | undefined;
  readonly topic?: string | undefined;
  readonly partition?: number | undefined;
  /** The upstream record key (the aggregate, for keyed producers). */
  readonly key?: string | undefined;
  readonly since?: Date | undefined;
  readonly until?: Date | undefined;
  readonly state: 'unresolved' | 'resolved' | 'all';
}

const UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `2h`, `30m`, `7d` ago, or an ISO 8601 time. */
export function parseTime(text: string, now: Date, option: string): Date {
  const relative = /^(\d+)([smhdw])$/.exec(text.trim());
  if (relative)
    return new Date(now.getTime() - Number(relative[1]) * (UNITS[relative[2] ?? 's'] ?? 1000));
  const absolute = new Date(text);
  if (Number.isNaN(absolute.getTime())) {
    throw new MembraneError(
      'cli.invalid-option',
      `${option} ${text} is neither a duration (2h, 30m, 7d) nor an ISO 8601 time.`,
      {
        hint: `give ${option} like 2h or 2026-11-22T10:00:00Z`,
      },
    );
  }
  return absolute;
}

export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

export function compileFilter(filter: QuarantineFilter): (record: QuarantinedRecord) => boolean {
  const code = filter.code === undefined ? undefined : globToRegExp(filter.code);
  return (record) => {
    const { entry } = record;
    const resolved = record.resolution !== undefined;
    if (filter.state === 'unresolved' && resolved) return false;
    if (filter.state === 'resolved' && !resolved) return false;
    if (code && !code.test(entry.issues[0]?.code ?? '')) return false;
    if (filter.stage !== undefined && entry.stage !== filter.stage) return false;
    if (filter.mapping !== undefined) {
      const wanted = filter.mapping.includes('@') ? entry.mapping : entry.mapping.split('@')[0];
      if (wanted !== filter.mapping) return false;
    }
    if (filter.topic !== undefined && entry.source.topic !== filter.topic) return false;
    if (filter.partition !== undefined && entry.source.partition !== filter.partition) return false;
    if (filter.key !== undefined && record.upstream.key?.toString('utf8') !== filter.key)
      return false;
    const at = new Date(entry.quarantinedAt).getTime();
    if (filter.since && at < filter.since.getTime()) return false;
    if (filter.until && at > filter.until.getTime()) return false;
    return true;
  };
}
