import { AssignerProtocol, type GroupDescription } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { encodeMemberData, TASK_ASSIGNER_NAME } from '../../../src/adapters/kafka/assigner.js';
import { liveMembers } from '../../../src/adapters/kafka/members.js';

const metadata = (userData: Buffer): Buffer =>
  AssignerProtocol.MemberMetadata.encode({ version: 1, topics: ['erp.orders'], userData });

function group(protocol: string, members: { id: string; metadata: Buffer }[]): GroupDescription {
  return {
    groupId: 'g',
    protocol,
    protocolType: 'consumer',
    state: 'Stable',
    members: members.map((m) => ({
      memberId: m.id,
      clientId: `membrane-${m.id}`,
      clientHost: '/10.0.0.7',
      memberMetadata: m.metadata,
      memberAssignment: Buffer.alloc(0),
    })),
  };
}

describe('liveMembers', () => {
  it('reads the versions each member publishes; a member without them says none', () => {
    const versions = new Map([['orders', { version: 3, digest: 'abcdef0123456789' }]]);
    const members = liveMembers(
      group(TASK_ASSIGNER_NAME, [
        {
          id: 'a',
          metadata: metadata(
            encodeMemberData({
              mappings: new Map([['orders', ['erp.orders']]]),
              owned: [],
              versions,
            }),
          ),
        },
        { id: 'b', metadata: metadata(Buffer.alloc(0)) },
        { id: 'c', metadata: Buffer.from('garbage') },
      ]),
    );
    expect(members).toEqual([
      { memberId: 'a', clientId: 'membrane-a', host: '10.0.0.7', versions },
      { memberId: 'b', clientId: 'membrane-b', host: '10.0.0.7', versions: undefined },
      { memberId: 'c', clientId: 'membrane-c', host: '10.0.0.7', versions: undefined },
    ]);
  });

  it('is empty for no group, or a group that does not use membrane’s assigner', () => {
    expect(liveMembers(undefined)).toEqual([]);
    expect(
      liveMembers(group('RoundRobinAssigner', [{ id: 'a', metadata: Buffer.alloc(0) }])),
    ).toEqual([]);
  });
});
