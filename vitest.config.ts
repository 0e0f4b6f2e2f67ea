import { defineConfig } from 'vitest/config';

/**
 * Two groups, run one after the other. The MySQL horizon suite deliberately keeps
 * INNODB_TRX stale with a polling session, which affects every session of the server:
 * it runs alone, after everything else.
 */
const SERVER_WIDE = ['test/integration/mysql-horizon.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: two test files at a time; each file has its own databases.
    maxWorkers: 2,
    globalSetup: ['test/helpers/global-setup.ts'],
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: SERVER_WIDE, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'server-wide', include: SERVER_WIDE, sequence: { groupOrder: 1 } } },
    ],
  },
});
