import { describe, expect, it } from 'vitest';
import { parseJavaMajor, requireJava, requireMaven } from '../../src/infra/tools.js';
import { InfraError } from '../../src/infra/errors.js';

describe('parseJavaMajor', () => {
  it.each([
    ['openjdk version "17.0.15" 2025-04-15', 17],
    ['openjdk version "21" 2023-09-19', 21],
    ['java version "1.8.0_392"', 8],
    ['openjdk version "25.0.1" 2025-10-21 LTS', 25],
  ])('reads %s as %i', (output, major) => {
    expect(parseJavaMajor(output)).toBe(major);
  });

  it('returns undefined for output it does not understand', () => {
    expect(parseJavaMajor('command not found')).toBeUndefined();
  });
});

describe('requireJava / requireMaven', () => {
  const noTools = { PATH: '/nonexistent' };

  it('says Java is missing, and what to do, when `java` cannot be run', () => {
    const error = (() => {
      try {
        requireJava(noTools);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(InfraError);
    expect((error as InfraError).code).toBe('infra.java-missing');
    expect((error as InfraError).hint).toMatch(/JDK 17/);
  });

  it('honours JAVA_HOME', () => {
    expect(() => requireJava({ PATH: '/nonexistent', JAVA_HOME: '/nonexistent-jdk' })).toThrow(
      /\/nonexistent-jdk\/bin\/java/,
    );
  });

  it('says Maven is missing when `mvn` cannot be run', () => {
    expect(() => requireMaven(noTools)).toThrow(
      expect.objectContaining({ code: 'infra.maven-missing' }) as Error,
    );
  });
});
