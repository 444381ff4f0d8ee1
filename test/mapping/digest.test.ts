import { describe, expect, it } from 'vitest';
import { mappingDigest, schemaFilesOf } from '../../src/mapping/digest.js';

const MAPPING = `# orders from the ERP
name: legacy-orders
version: 3
source:
  topics: [erp.orders]
  trust:
    keys:
      k1: \${env:ERP_HMAC_KEY_1}
`;

describe('mappingDigest', () => {
  it('is 16 hex characters, the same for the same content whatever the comments, layout and key order', () => {
    const digest = mappingDigest(MAPPING);
    expect(digest).toMatch(/^[0-9a-f]{16}$/);
    const relaid = `version: 3
name: legacy-orders   # renamed comment
source:
  trust:
    keys:
      k1: \${env:ERP_HMAC_KEY_1}
  topics:
    - erp.orders
`;
    expect(mappingDigest(relaid)).toBe(digest);
  });

  it('changes with any value, including the version and an environment reference', () => {
    const digest = mappingDigest(MAPPING);
    expect(mappingDigest(MAPPING.replace('version: 3', 'version: 4'))).not.toBe(digest);
    expect(mappingDigest(MAPPING.replace('erp.orders', 'erp.orders-v2'))).not.toBe(digest);
    expect(mappingDigest(MAPPING.replace('ERP_HMAC_KEY_1', 'ERP_HMAC_KEY_2'))).not.toBe(digest);
  });

  it('digests text that does not parse as it is', () => {
    expect(mappingDigest('a: [')).toMatch(/^[0-9a-f]{16}$/);
    expect(mappingDigest('a: [')).not.toBe(mappingDigest('a: [ '));
  });

  it('counts every key, __proto__ too', () => {
    expect(mappingDigest('a: 1\n__proto__: { b: 2 }\n')).not.toBe(mappingDigest('a: 1\n'));
  });

  it('counts the schema files a mapping names, in order', () => {
    const plain = mappingDigest(MAPPING);
    expect(mappingDigest(MAPPING, [])).toBe(plain);
    const withSchema = mappingDigest(MAPPING, ['{"type":"string"}']);
    expect(withSchema).not.toBe(plain);
    expect(mappingDigest(MAPPING, ['{"type":"long"}'])).not.toBe(withSchema);
    expect(mappingDigest(MAPPING, ['a', 'b'])).not.toBe(mappingDigest(MAPPING, ['b', 'a']));
  });

  it('finds the schema files of the source and of every target', () => {
    expect(
      schemaFilesOf({
        source: { schema: 'in.avsc' },
        events: [
          { to: { schema: 'a.avsc' } },
          { to: [{ schema: 'b.avsc' }, {}] },
          { to: undefined },
        ],
      }),
    ).toEqual(['in.avsc', 'a.avsc', 'b.avsc']);
  });
});
