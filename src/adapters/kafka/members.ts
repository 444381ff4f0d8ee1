import { AssignerProtocol, type Admin, type GroupDescription } from 'kafkajs';
import { waitFor } from '../../infra/wait.js';
import { decodeMemberData, TASK_ASSIGNER_NAME, type MappingVersion } from './assigner.js';

/** A member of the live group, as far as the mapping versions go. */
export interface LiveMember {
  readonly memberId: string;
  readonly clientId: string;
  readonly host: string;
  /** undefined: a member that does not publish its versions (an older membrane). */
  readonly versions: ReadonlyMap<string, MappingVersion> | undefined;
  /** The topics it subscribes to (its consumer-protocol metadata): the group's real inputs. */
  readonly topics: readonly string[];
}

/**
 * The members of a group as membrane's assigner sees them: from each member's join metadata,
 * the mapping versions it publishes (undefined for a member that publishes none — an older
 * membrane, or not membrane at all). A group that is empty, rebalancing without members or
 * not using membrane's assigner has no such members.
 */
export function liveMembers(group: GroupDescription | undefined): LiveMember[] {
  if (!group || group.protocol !== TASK_ASSIGNER_NAME) return [];
  return group.members.map((member) => {
    let versions: LiveMember['versions'];
    let topics: string[] = [];
    try {
      const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
      versions = decodeMemberData(metadata?.userData).versions;
      topics = (metadata?.topics ?? []).filter((t): t is string => typeof t === 'string');
    } catch {
      versions = undefined;
    }
    return {
      memberId: member.memberId,
      clientId: member.clientId,
      host: member.clientHost.replace(/^\//, ''),
      versions,
      topics,
    };
  });
}

/** States in which Kafka describes no member metadata, though members may be running. */
const SETTLING = new Set(['PreparingRebalance', 'CompletingRebalance']);

/**
 * The live members of `groupId` once Kafka can describe them: a group rebalancing (a rolling
 * restart, a member that died and whose session has not expired) lists its members without
 * metadata, so this asks again until the group is Stable (or Empty, or gone), for at most
 * `timeoutMs`. `settled: false` with the last state when it never was.
 */
export async function settledMembers(
  admin: Admin,
  groupId: string,
  timeoutMs = 30_000,
): Promise<{ settled: true; members: LiveMember[] } | { settled: false; state: string }> {
  let state = 'Unknown';
  const result = await waitFor(
    async () => {
      const [group] = (await admin.describeGroups([groupId])).groups;
      state = group?.state ?? 'Dead';
      if (SETTLING.has(state)) throw new Error(`the group is ${state}`);
      return liveMembers(group);
    },
    { timeoutMs, intervalMs: 500 },
  );
  return result.ok ? { settled: true, members: result.value } : { settled: false, state };
}
