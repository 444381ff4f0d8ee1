import { AssignerProtocol, type GroupDescription } from 'kafkajs';
import { decodeMemberData, TASK_ASSIGNER_NAME, type MappingVersion } from './assigner.js';

/** A member of the live group, as far as the mapping versions go. */
export interface LiveMember {
  readonly memberId: string;
  readonly clientId: string;
  readonly host: string;
  /** undefined: a member that does not publish its versions (an older membrane). */
  readonly versions: ReadonlyMap<string, MappingVersion> | undefined;
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
    try {
      const metadata = AssignerProtocol.MemberMetadata.decode(member.memberMetadata);
      versions = decodeMemberData(metadata?.userData).versions;
    } catch {
      versions = undefined;
    }
    return {
      memberId: member.memberId,
      clientId: member.clientId,
      host: member.clientHost.replace(/^\//, ''),
      versions,
    };
  });
}
