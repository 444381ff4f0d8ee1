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
