import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: two test files at a time; each file has its own databases.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
