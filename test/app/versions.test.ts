import { describe, expect, it } from 'vitest';
import type { LiveMember } from '../../src/adapters/kafka/members.js';
import { mappingVersions, memberVersionLines, versionMismatches } from '../../src/app/versions.js';
import { BASE_MAPPING, compileText } from '../support/mappings.js';

const member = (
  clientId: string,
  versions: LiveMember['versions'],
  host = '10.0.0.1',
): LiveMember => ({ memberId: `${clientId}-id`, clientId, host, versions, topics: [] });

describe('mapping versions of a replay against the live group', () => {
  it('agrees with members running the same version and content, or other mappings, or none', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    pipeline.digest = 'aaaaaaaaaaaaaaaa';
    const mine = mappingVersions([pipeline]);
    const used = new Set([pipeline.name]);
    expect(versionMismatches([], [pipeline], used)).toEqual([]);
    expect(versionMismatches([member('m1', mine), member('m2', mine)], [pipeline], used)).toEqual(
      [],
    );
    const other = new Map([['stock', { version: 9, digest: 'bbbb' }]]);
    expect(versionMismatches([member('m1', other)], [pipeline], used)).toEqual([]);
    // A mapping the replay does not use is not compared.
    const older = new Map([[pipeline.name, { version: pipeline.version - 1, digest: 'cccc' }]]);
    expect(versionMismatches([member('m1', older)], [pipeline], new Set())).toEqual([]);
  });

  it('names the live version and its members when they run another one', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    pipeline.digest = 'aaaaaaaaaaaaaaaa';
    const v = pipeline.version;
    const older = new Map([[pipeline.name, { version: v - 1, digest: 'cccccccccccccccc' }]]);
    expect(
      versionMismatches(
        [member('m1', older), member('m2', older, '10.0.0.2')],
        [pipeline],
        new Set([pipeline.name]),
      ),
    ).toEqual([
      `The live group runs ${pipeline.name}@${v - 1} (cccccccc) (members m1@10.0.0.1, m2@10.0.0.2), but this replay would use ${pipeline.name}@${v} (aaaaaaaa) from MEMBRANE_MAPPINGS.`,
    ]);
  });

  it('tells the same version number with other content, and members that do not say', async () => {
    const pipeline = await compileText(BASE_MAPPING);
    pipeline.digest = 'aaaaaaaaaaaaaaaa';
    const v = pipeline.version;
    const edited = new Map([[pipeline.name, { version: v, digest: 'dddddddddddddddd' }]]);
    expect(
      versionMismatches(
        [member('m1', edited), member('old', undefined)],
        [pipeline],
        new Set([pipeline.name]),
      ),
    ).toEqual([
      `The live group runs ${pipeline.name}@${v} (dddddddd), the same version number with other content (member m1@10.0.0.1), but this replay would use ${pipeline.name}@${v} (aaaaaaaa) from MEMBRANE_MAPPINGS.`,
      `The live group runs an older membrane that does not say which version it runs (member old@10.0.0.1), but this replay would use ${pipeline.name}@${v} (aaaaaaaa) from MEMBRANE_MAPPINGS.`,
    ]);
  });
});

describe('memberVersionLines', () => {
  it('lists each member with its mapping versions, and warns when members disagree', () => {
    const v3 = new Map([
      ['orders', { version: 3, digest: 'aaaaaaaaaaaaaaaa' }],
      ['stock', { version: 1, digest: 'bbbbbbbbbbbbbbbb' }],
    ]);
    const v4 = new Map([['orders', { version: 4, digest: 'cccccccccccccccc' }]]);
    expect(
      memberVersionLines([
        member('m1', v3),
        member('m2', v4, '10.0.0.2'),
        member('m3', v3, '10.0.0.3'),
        member('old', undefined, '10.0.0.4'),
      ]),
    ).toEqual([
      '  m1@10.0.0.1  orders@3 (aaaaaaaa), stock@1 (bbbbbbbb)',
      '  m2@10.0.0.2  orders@4 (cccccccc)',
      '  m3@10.0.0.3  orders@3 (aaaaaaaa), stock@1 (bbbbbbbb)',
      '  old@10.0.0.4  does not say which mapping versions it runs (an older membrane)',
      '  warning: the members run orders in 2 versions: orders@3 (aaaaaaaa) on 2, orders@4 (cccccccc) on 1; records are translated by whichever member owns their partition',
    ]);
    expect(memberVersionLines([member('m1', v3), member('m2', v3)])).toHaveLength(2);
    expect(memberVersionLines([])).toEqual([]);
  });
});
