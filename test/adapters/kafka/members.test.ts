import { AssignerProtocol, type Admin, type GroupDescription } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { encodeMemberData, TASK_ASSIGNER_NAME } from '../../../src/adapters/kafka/assigner.js';
import { liveMembers, settledMembers } from '../../../src/adapters/kafka/members.js';

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
      { memberId: 'a', clientId: 'membrane-a', host: '10.0.0.7', versions, topics: ['erp.orders'] },
      {
        memberId: 'b',
        clientId: 'membrane-b',
        host: '10.0.0.7',
        versions: undefined,
        topics: ['erp.orders'],
      },
      { memberId: 'c', clientId: 'membrane-c', host: '10.0.0.7', versions: undefined, topics: [] },
    ]);
  });

  it('is empty for no group, or a group that does not use membrane’s assigner', () => {
    expect(liveMembers(undefined)).toEqual([]);
    expect(
      liveMembers(group('RoundRobinAssigner', [{ id: 'a', metadata: Buffer.alloc(0) }])),
    ).toEqual([]);
  });
});

/**
 * Found by a review (review13): Kafka describes a rebalancing group's members without metadata
 * or protocol, so they read as no member and replay's version check went ahead during a rolling
 * restart — exactly when two versions run side by side.
 */
describe('settledMembers', () => {
  const versions = new Map([['orders', { version: 3, digest: 'abcdef0123456789' }]]);
  const stable = group(TASK_ASSIGNER_NAME, [
    {
      id: 'a',
      metadata: metadata(
        encodeMemberData({ mappings: new Map([['orders', ['erp.orders']]]), owned: [], versions }),
      ),
    },
  ]);
  const rebalancing = (state: GroupDescription['state']): GroupDescription => ({
    ...stable,
    state,
    protocol: '',
    members: stable.members.map((m) => ({ ...m, memberMetadata: Buffer.alloc(0) })),
  });
  const admin = (answers: GroupDescription[]): Admin =>
    ({
      describeGroups: () => {
        const next = answers.length > 1 ? answers.shift() : answers[0];
        return Promise.resolve({ groups: next ? [next] : [] });
      },
    }) as unknown as Admin;

  it('asks again while the group rebalances, and reads the members once it is stable', async () => {
    expect(liveMembers(rebalancing('PreparingRebalance'))).toEqual([]);
    const result = await settledMembers(
      admin([rebalancing('PreparingRebalance'), rebalancing('CompletingRebalance'), stable]),
      'g',
      10_000,
    );
    expect(result).toEqual({
      settled: true,
      members: [
        {
          memberId: 'a',
          clientId: 'membrane-a',
          host: '10.0.0.7',
          versions,
          topics: ['erp.orders'],
        },
      ],
    });
  });

  it('gives up with the state when the group never settles, and is settled with no member when empty', async () => {
    expect(await settledMembers(admin([rebalancing('CompletingRebalance')]), 'g', 1_200)).toEqual({
      settled: false,
      state: 'CompletingRebalance',
    });
    expect(
      await settledMembers(admin([{ ...stable, state: 'Empty', protocol: '', members: [] }]), 'g'),
    ).toEqual({ settled: true, members: [] });
  });
});
