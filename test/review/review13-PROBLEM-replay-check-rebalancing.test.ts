import { AssignerProtocol, type GroupDescription } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { encodeMemberData, TASK_ASSIGNER_NAME } from '../../src/adapters/kafka/assigner.js';
import { liveMembers } from '../../src/adapters/kafka/members.js';
import { versionMismatches } from '../../src/app/versions.js';
import { BASE_MAPPING, compileText } from '../support/mappings.js';

/**
 * review13: `quarantine replay` compares its mappings with the versions the live members
 * publish in their join metadata (`liveMembers`, src/adapters/kafka/members.ts). Kafka's
 * DescribeGroups gives member metadata and the protocol name only for a Stable group: for a
 * group in PreparingRebalance or CompletingRebalance (GroupMetadata.summary: members
 * `summaryNoMetadata()`, protocol `NoProtocol` = ""), the members are listed with empty
 * metadata and an empty protocol. `liveMembers` then returns no member at all, so the replay
 * finds "nothing to compare" and goes ahead — during a rolling restart, which is exactly when
 * old and new versions run side by side, or while a crashed member's session has not yet
 * expired. The README says the replay goes ahead only "with no member running".
 */
describe('review13 PROBLEM: the mapping-version check of replay during a rebalance', () => {
  it('PROBLEM: a rebalancing group with members running another version counts as no member', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    pipeline.digest = 'aaaaaaaaaaaaaaaa';
    const theirs = encodeMemberData({
      mappings: new Map([[pipeline.name, ['t']]]),
      owned: [],
      versions: new Map([[pipeline.name, { version: pipeline.version + 1, digest: 'bbbb' }]]),
    });
    const member = (metadata: Buffer): GroupDescription['members'][number] => ({
      memberId: 'm1',
      clientId: 'membrane',
      clientHost: '/10.0.3.7',
      memberMetadata: metadata,
      memberAssignment: Buffer.alloc(0),
    });
    const used = new Set([pipeline.name]);
    // Stable: the member's other version is seen and the replay refused.
    const stable: GroupDescription = {
      groupId: 'membrane',
      state: 'Stable',
      protocolType: 'consumer',
      protocol: TASK_ASSIGNER_NAME,
      members: [
        member(
          AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['t'], userData: theirs }),
        ),
      ],
    };
    expect(versionMismatches(liveMembers(stable), [pipeline], used)).toHaveLength(1);
    // The same member while the group rebalances, as Kafka describes it: no protocol, no metadata.
    const rebalancing: GroupDescription = {
      groupId: 'membrane',
      state: 'PreparingRebalance',
      protocolType: 'consumer',
      protocol: '',
      members: [member(Buffer.alloc(0))],
    };
    expect(liveMembers(rebalancing)).toEqual([]);
    expect(versionMismatches(liveMembers(rebalancing), [pipeline], used)).toEqual([]);
  });
});
