import { describe, expect, it } from 'vitest';
import { quarantineAcls } from '../../../../src/cli/commands/quarantine/common.js';

const names = (access: Parameters<typeof quarantineAcls>[1]): string[] =>
  quarantineAcls('q', access, ['sales.placed'], 'g').map(
    (need) =>
      `${need.resource} ${need.name}${need.prefixed ? '*' : ''}: ${need.operations.join(',')}`,
  );

describe('the ACLs a quarantine command names when refused', () => {
  it('for unpack: write the quarantine (sized to fit), the markers, and the transactional ID replay shares', () => {
    expect(names('unpack')).toEqual([
      'topic q: DESCRIBE,READ,WRITE,DESCRIBE_CONFIGS',
      'topic q.resolutions: DESCRIBE,READ,WRITE,CREATE',
      'transactional ID membrane-replay.q: DESCRIBE,WRITE',
      'group membrane-cli.*: READ,DELETE',
    ]);
  });

  it('for replay: the outputs and the group besides', () => {
    expect(names('replay')).toEqual([
      'topic q: DESCRIBE,READ,WRITE,DESCRIBE_CONFIGS',
      'topic q.resolutions: DESCRIBE,READ,WRITE,CREATE',
      'topic sales.placed: DESCRIBE,WRITE,DESCRIBE_CONFIGS',
      'group g: DESCRIBE',
      'transactional ID membrane-replay.q: DESCRIBE,WRITE',
      'group membrane-cli.*: READ,DELETE',
    ]);
  });

  it('for reading: nothing written', () => {
    expect(names('read')).toEqual([
      'topic q: DESCRIBE,READ',
      'topic q.resolutions: DESCRIBE,READ',
      'group membrane-cli.*: READ,DELETE',
    ]);
  });
});
