import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { Kafka, logLevel } from 'kafkajs';
import { join } from 'node:path';
import { InfraError } from './errors.js';
import { LOOPBACK } from './ports.js';

/** The name of the broker's secured listener (its security protocol too). */
export const SECURE_LISTENER = 'SASL_SSL';

/** The SCRAM mechanisms the secured listener enables (OAUTHBEARER too; PLAIN is refused). */
export const SCRAM_MECHANISMS = ['SCRAM-SHA-512', 'SCRAM-SHA-256'] as const;

/** The SCRAM user `infra up` creates (with a random password, for every mechanism above). */
export const SCRAM_USERNAME = 'membrane';

/**
 * A second SCRAM user the broker knows but whose ACLs grant nothing (the broker runs an
 * authorizer once it has a secured listener): what an operator meets when credentials are
 * right and permissions are not.
 */
export const RESTRICTED_USERNAME = 'membrane-restricted';

/**
 * The principal (the token's `sub`) OAUTHBEARER clients of the local broker authenticate as:
 * a super user like `membrane`. The broker validates unsecured JWS tokens (`alg: none`, Kafka's
 * OAuthBearerUnsecuredValidatorCallbackHandler), so a test can be its own token endpoint; a
 * production cluster validates signed tokens against its identity provider instead.
 */
export const OAUTH_PRINCIPAL = 'membrane-oauth';

/** Certificates live this long: far longer than any local instance or CI run. */
const VALID_DAYS = 30;

/**
 * What a secured listener needs: a throwaway CA, the broker's certificate for 127.0.0.1 and
 * localhost signed by it (in a PKCS12 keystore the broker reads), and SCRAM credentials.
 */
export interface SecureMaterial {
  /** The CA certificate (PEM) clients trust: KAFKA_SSL_CA_FILE. */
  readonly caFile: string;
  /** The broker's certificate and key, PKCS12. */
  readonly keystoreFile: string;
  readonly keystorePassword: string;
  /** A client certificate and key (PEM) signed by the same CA, for mutual TLS. */
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly username: string;
  readonly password: string;
  /** The password of RESTRICTED_USERNAME. */
  readonly restrictedPassword: string;
}

const OPENSSL_HINT =
  'install OpenSSL (Debian/Ubuntu: `apt-get install openssl`); the local broker needs it to make its test certificates';

function openssl(args: readonly string[], dir: string, env: NodeJS.ProcessEnv): void {
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8', env, timeout: 30_000 });
  if (result.error) {
    throw new InfraError(
      'infra.openssl-missing',
      `OpenSSL is needed to make the local broker's certificates, but \`openssl\` could not be run (${result.error.message}).`,
      { hint: OPENSSL_HINT, cause: result.error },
    );
  }
  if (result.status !== 0) {
    const detail = (result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ');
    throw new InfraError(
      'infra.start-failed',
      `\`openssl ${args[0] ?? ''}\` failed while making the local broker's certificates in ${dir}: ${detail}`,
      { hint: `remove ${dir} and run \`npm run infra -- up\` again` },
    );
  }
}

/** A random serial number for a certificate (positive, 16 bytes). */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return `0x${bytes.toString('hex')}`;
}

/** A password made of hex digits only: safe in properties files and StorageTool's syntax. */
export function randomPassword(): string {
  return randomBytes(18).toString('hex');
}

/**
 * Makes a fresh CA, a broker certificate (SAN IP:127.0.0.1, DNS:localhost) and a client
 * certificate in `dir` (emptied first) with openssl, and a random SCRAM password. EC P-256
 * keys: generating them takes milliseconds.
 */
export async function createSecureMaterial(
  dir: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SecureMaterial> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const keystorePassword = randomPassword();
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const days = ['-days', String(VALID_DAYS)];
  openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      ...days,
      '-set_serial',
      serial(),
      '-subj',
      '/CN=membrane local test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
    env,
  );
  const sign = (name: string, subject: string, extensions: string): void => {
    openssl(
      ['req', '-new', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject],
      dir,
      env,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-set_serial',
        serial(),
        ...days,
        '-extfile',
        extensions,
        '-out',
        `${name}.pem`,
      ],
      dir,
      env,
    );
  };
  await writeFile(
    join(dir, 'broker.ext'),
    [
      `subjectAltName=IP:${LOOPBACK},DNS:localhost`,
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      '',
    ].join('\n'),
  );
  await writeFile(
    join(dir, 'client.ext'),
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=clientAuth',
      '',
    ].join('\n'),
  );
  sign('broker', '/CN=localhost', 'broker.ext');
  sign('client', `/CN=${SCRAM_USERNAME}`, 'client.ext');
  openssl(
    [
      'pkcs12',
      '-export',
      '-in',
      'broker.pem',
      '-inkey',
      'broker.key',
      '-certfile',
      'ca.pem',
      '-name',
      'broker',
      '-out',
      'broker.p12',
      // From the environment, not the command line: arguments show in `ps`.
      '-passout',
      'env:MEMBRANE_KEYSTORE_PASSWORD',
    ],
    dir,
    { ...env, MEMBRANE_KEYSTORE_PASSWORD: keystorePassword },
  );
  // Nobody signs anything with this CA again: its key goes, the CA file stays for clients.
  for (const name of ['ca.key', 'broker.csr', 'broker.ext', 'client.csr', 'client.ext'])
    await rm(join(dir, name), { force: true });
  for (const name of ['broker.key', 'client.key', 'broker.p12'])
    await chmod(join(dir, name), 0o600);
  return {
    caFile: join(dir, 'ca.pem'),
    keystoreFile: join(dir, 'broker.p12'),
    keystorePassword,
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    username: SCRAM_USERNAME,
    password: randomPassword(),
    restrictedPassword: randomPassword(),
  };
}

/** StorageTool `format` arguments that create SCRAM users for every enabled mechanism. */
export function scramFormatArgs(
  ...users: readonly { readonly username: string; readonly password: string }[]
): string[] {
  return users.flatMap((credentials) =>
    SCRAM_MECHANISMS.flatMap((mechanism) => [
      '--add-scram',
      `${mechanism}=[name=${credentials.username},password=${credentials.password}]`,
    ]),
  );
}

/** Where and how to reach the secured listener of a local instance (kept in its state file). */
export interface SecureListenerState {
  readonly port: number;
  readonly brokers: readonly string[];
  /** kafkajs / KAFKA_SASL_MECHANISM spelling: scram-sha-512, scram-sha-256. */
  readonly mechanisms: readonly string[];
  readonly caFile: string;
  readonly clientCertFile: string;
  readonly clientKeyFile: string;
  readonly username: string;
  readonly password: string;
  /** A SCRAM user with no ACLs (absent in states written by older versions). */
  readonly restricted?: { readonly username: string; readonly password: string };
  /** The OAUTHBEARER principal with all rights (absent: the listener has no OAUTHBEARER). */
  readonly oauthPrincipal?: string;
}

/**
 * Connects to the secured listener as its SCRAM user, trusting only the instance's CA, and
 * asks for the cluster's metadata: proves TLS and authentication both work.
 */
export async function describeSecureListener(
  secure: SecureListenerState,
  timeoutMs = 3000,
): Promise<void> {
  const ca = await readFile(secure.caFile, 'utf8');
  const admin = new Kafka({
    clientId: 'membrane-health',
    brokers: [...secure.brokers],
    ssl: { ca: [ca] },
    sasl: { mechanism: 'scram-sha-512', username: secure.username, password: secure.password },
    connectionTimeout: timeoutMs,
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    await admin.describeCluster();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
