import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          // Unit tests first: they fail fast and need no broker.
          sequence: { groupOrder: 0 },
          include: ['test/**/*.test.ts'],
          exclude: ['test/integration/**', 'test/reliability/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'reliability',
          sequence: { groupOrder: 2 },
          include: ['test/reliability/**/*.test.ts'],
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 120_000,
          // One scenario at a time: each injects its own fault and measures its own recovery.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          // Starts (or reuses) a real Kafka broker and schema registry once per run.
          globalSetup: ['test/integration/global-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          // Two cores: two test files at a time keeps the broker responsive.
          maxWorkers: 2,
        },
      },
    ],
  },
});
