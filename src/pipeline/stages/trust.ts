import { createHmac, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { issue } from '../../core/issues.js';
import { headerBytes, headerText, type SourceRecord } from '../../core/records.js';
import { pass, quarantine, type Verdict } from '../../core/verdict.js';

/**
 * trust — is this producer allowed, and is the signature valid? Runs first, on the raw
 * bytes: nothing from an unauthenticated producer reaches a parser.
 *
 * The signed bytes are the record value, then for each covered header, in order:
 * a 0x00 byte, the header name, a 0x00 byte, the header value. The signature header holds
 * base64; the key-ID header names the key, so keys can rotate.
 */
export interface TrustConfig {
  readonly allow?: { readonly header: string; readonly values: readonly string[] };
  readonly signature?: {
    readonly algorithm: 'hmac-sha256' | 'ed25519';
    readonly header: string;
    readonly keyIdHeader: string;
    readonly covers: readonly string[];
    readonly keys: Readonly<Record<string, string>>;
  };
}

export type TrustStage = (record: SourceRecord) => Verdict<undefined>;

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const SIGNATURE_BYTES = { 'hmac-sha256': 32, ed25519: 64 } as const;
// DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Builds the key objects once; throws (a mapping error) for a key that is not one. */
export function ed25519PublicKey(text: string): KeyObject {
  if (text.includes('BEGIN PUBLIC KEY')) return createPublicKey(text);
  const raw = Buffer.from(text, 'base64');
  if (raw.length !== 32) throw new Error('an Ed25519 public key is PEM, or base64 of 32 bytes');
  return createPublicKey({
    key: Buffer.concat([ED25519_SPKI_PREFIX, raw]),
    format: 'der',
    type: 'spki',
  });
}

const ZERO = Buffer.from([0]);

/** HMAC-SHA256 over the signed bytes (see above): what a producer sends and membrane checks. */
export function hmacSignature(
  key: Buffer | string,
  value: Buffer,
  covered: readonly { readonly name: string; readonly value: Buffer | string }[],
): Buffer {
  const mac = createHmac('sha256', key).update(value);
  for (const header of covered)
    mac.update(ZERO).update(header.name).update(ZERO).update(header.value);
  return mac.digest();
}

/** The bytes a producer signs: value, then each covered header (see above). */
export function signedBytes(
  value: Buffer,
  covered: readonly { name: string; value: Buffer }[],
): Buffer {
  const parts: Buffer[] = [value];
  for (const header of covered)
    parts.push(Buffer.from([0]), Buffer.from(header.name), Buffer.from([0]), header.value);
  return Buffer.concat(parts);
}

export function createTrustStage(config: TrustConfig): TrustStage {
  const allowed = config.allow ? new Set(config.allow.values) : undefined;
  const allowHeader = config.allow?.header ?? '';
  const signature = config.signature;
  const hmacKeys = new Map<string, Buffer>();
  const edKeys = new Map<string, KeyObject>();
  if (signature) {
    for (const [id, key] of Object.entries(signature.keys)) {
      if (signature.algorithm === 'hmac-sha256') hmacKeys.set(id, Buffer.from(key, 'utf8'));
      else edKeys.set(id, ed25519PublicKey(key));
    }
  }
  const expectedLength = signature ? SIGNATURE_BYTES[signature.algorithm] : 0;

  return (record) => {
    if (allowed) {
      const source = headerText(record.headers, allowHeader);
      if (source === undefined || !allowed.has(source)) {
        return quarantine(
          issue(
            'trust.source-not-allowed',
            `headers.${allowHeader}`,
            source === undefined
              ? `header ${allowHeader} is missing`
              : `source ${JSON.stringify(source.slice(0, 64))} is not allowed`,
          ),
        );
      }
    }
    if (!signature) return pass(undefined);

    const sigText = headerText(record.headers, signature.header);
    if (sigText === undefined) {
      return quarantine(
        issue(
          'trust.signature-missing',
          `headers.${signature.header}`,
          `header ${signature.header} is missing`,
        ),
      );
    }
    const keyId = headerText(record.headers, signature.keyIdHeader);
    if (keyId === undefined) {
      return quarantine(
        issue(
          'trust.signature-missing',
          `headers.${signature.keyIdHeader}`,
          `key-ID header ${signature.keyIdHeader} is missing`,
        ),
      );
    }
    const sig = BASE64.test(sigText) ? Buffer.from(sigText, 'base64') : undefined;
    if (sig?.length !== expectedLength) {
      return quarantine(
        issue(
          'trust.signature-malformed',
          `headers.${signature.header}`,
          `expected base64 of ${expectedLength} bytes for ${signature.algorithm}`,
        ),
      );
    }
    const hmacKey = hmacKeys.get(keyId);
    const edKey = edKeys.get(keyId);
    if (!hmacKey && !edKey) {
      return quarantine(
        issue(
          'trust.unknown-key',
          `headers.${signature.keyIdHeader}`,
          `key ${JSON.stringify(keyId.slice(0, 64))} is not configured`,
        ),
      );
    }
    const covered: { name: string; value: Buffer }[] = [];
    for (const name of signature.covers) {
      const value = headerBytes(record.headers, name);
      if (value === undefined) {
        return quarantine(
          issue('trust.signature-missing', `headers.${name}`, `signed header ${name} is missing`),
        );
      }
      covered.push({ name, value });
    }
    const value = record.value ?? Buffer.alloc(0);
    let valid: boolean;
    if (hmacKey) {
      valid = timingSafeEqual(hmacSignature(hmacKey, value, covered), sig);
    } else {
      valid = verify(null, signedBytes(value, covered), edKey as KeyObject, sig);
    }
    return valid
      ? pass(undefined)
      : quarantine(
          issue(
            'trust.signature-invalid',
            `headers.${signature.header}`,
            `signature does not match (key ${keyId})`,
          ),
        );
  };
}
