import type { MappingVersion } from '../adapters/kafka/assigner.js';
import type { LiveMember } from '../adapters/kafka/members.js';
import type { Pipeline } from '../pipeline/pipeline.js';

/** The version of each mapping, as a member publishes it in its join metadata. */
export function mappingVersions(pipelines: readonly Pipeline[]): Map<string, MappingVersion> {
  return new Map(
    pipelines.map((p) => [p.name, { version: p.version, digest: p.digest ?? '' }] as const),
  );
}

export const formatVersion = (name: string, v: MappingVersion): string =>
  `${name}@${v.version}${v.digest ? ` (${v.digest.slice(0, 8)})` : ''}`;

const who = (m: LiveMember): string => `${m.clientId}@${m.host}`;

/**
 * Why a replay with `pipelines` would not translate as the live group does: one sentence per
 * mapping whose live members run another version (or the same version number with other
 * content), or do not say what they run. Empty when they agree, or when no member is live.
 * Only mappings the replay would use (`used`) are compared.
 */
export function versionMismatches(
  live: readonly LiveMember[],
  pipelines: readonly Pipeline[],
  used: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  for (const pipeline of pipelines) {
    if (!used.has(pipeline.name)) continue;
    const mine = { version: pipeline.version, digest: pipeline.digest ?? '' };
    const others = new Map<string, string[]>();
    for (const member of live) {
      if (member.versions === undefined) {
        const key = 'an older membrane that does not say which version it runs';
        others.set(key, [...(others.get(key) ?? []), who(member)]);
        continue;
      }
      const theirs = member.versions.get(pipeline.name);
      if (!theirs) continue; // It does not run this mapping.
      if (theirs.version === mine.version && theirs.digest === mine.digest) continue;
      const key =
        theirs.version === mine.version
          ? `${formatVersion(pipeline.name, theirs)}, the same version number with other content`
          : formatVersion(pipeline.name, theirs);
      others.set(key, [...(others.get(key) ?? []), who(member)]);
    }
    for (const [what, members] of others)
      problems.push(
        `The live group runs ${what} (${members.length === 1 ? 'member' : 'members'} ${members.join(', ')}), but this replay would use ${formatVersion(pipeline.name, mine)} from MEMBRANE_MAPPINGS.`,
      );
  }
  return problems;
}

/**
 * What `membrane status` says of the live members' mapping versions: a line per member (its
 * client ID and host, then each mapping it runs), and a warning line per mapping the members
 * run in more than one version (a rolling restart half-way, or a member left behind).
 */
export function memberVersionLines(live: readonly LiveMember[]): string[] {
  const lines = live.map((member) => {
    const runs =
      member.versions === undefined
        ? 'does not say which mapping versions it runs (an older membrane)'
        : [...member.versions]
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
            .map(([name, v]) => formatVersion(name, v))
            .join(', ') || 'runs no mapping';
    return `  ${who(member)}  ${runs}`;
  });
  const byMapping = new Map<string, Map<string, number>>();
  for (const member of live)
    for (const [name, v] of member.versions ?? []) {
      const seen = byMapping.get(name) ?? new Map<string, number>();
      const key = formatVersion(name, v);
      seen.set(key, (seen.get(key) ?? 0) + 1);
      byMapping.set(name, seen);
    }
  for (const [name, seen] of [...byMapping].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    if (seen.size > 1)
      lines.push(
        `  warning: the members run ${name} in ${seen.size} versions: ${[...seen].map(([v, n]) => `${v} on ${n}`).join(', ')}; records are translated by whichever member owns their partition`,
      );
  return lines;
}
