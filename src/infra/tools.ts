import { spawnSync } from 'node:child_process';
import { InfraError } from './errors.js';
import { MIN_JAVA } from './versions.js';

const JAVA_HINT =
  'install a JDK 17 or newer (Debian/Ubuntu: `apt-get install openjdk-17-jdk-headless`), ' +
  'or point membrane at an existing cluster with KAFKA_BROKERS and SCHEMA_REGISTRY_URL';

/** The Java feature version in `java -version` output ("17.0.15", "1.8.0_392", "21"). */
export function parseJavaMajor(versionOutput: string): number | undefined {
  const match = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match?.[1]) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] ? Number(match[2]) : first;
}

export function javaCommand(env: NodeJS.ProcessEnv = process.env): string {
  const home = env['JAVA_HOME'];
  return home ? `${home}/bin/java` : 'java';
}

/** Checks that Java >= 17 is there; returns the command to run it. */
export function requireJava(env: NodeJS.ProcessEnv = process.env): string {
  const java = javaCommand(env);
  const result = spawnSync(java, ['-version'], { encoding: 'utf8', env });
  if (result.error) {
    throw new InfraError(
      'infra.java-missing',
      `Java is needed to run the local Kafka broker and schema registry, but \`${java}\` could not be run (${result.error.message}).`,
      { hint: JAVA_HINT, cause: result.error },
    );
  }
  const major = parseJavaMajor(`${result.stderr}${result.stdout}`);
  if (major === undefined || major < MIN_JAVA) {
    throw new InfraError(
      'infra.java-too-old',
      `Java ${MIN_JAVA} or newer is needed, but \`${java} -version\` reports ${major ?? 'an unknown version'}.`,
      { hint: JAVA_HINT },
    );
  }
  return java;
}

/** Checks that Maven is there (needed once, to download the Kafka jars). */
export function requireMaven(env: NodeJS.ProcessEnv = process.env): string {
  const result = spawnSync('mvn', ['--version'], { encoding: 'utf8', env });
  if (result.error || result.status !== 0) {
    throw new InfraError(
      'infra.maven-missing',
      'Maven is needed once to download the Kafka jars from Maven Central, but `mvn --version` failed.',
      {
        hint: 'install Maven (Debian/Ubuntu: `apt-get install maven`) and run the command again',
        cause: result.error,
      },
    );
  }
  return 'mvn';
}
