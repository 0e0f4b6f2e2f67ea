/**
 * Regenerates or checks the committed generated/<dialect>/ SQL of the fixtures, the
 * way a user's CI would: fresh databases with fixtures/schema/<dialect>.sql, then
 * `dsync generate [--check] --config fixtures/dsync.config.json --node <dialect>`.
 * Run `npm run generate:fixtures` after changing a template or a fixture.
 */
import type { DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { type CliResult, runCli } from './cli.ts';
import { createTestDatabase } from './databases.ts';
import { applyFixtureSchema, FIXTURES } from './fixtures.ts';
import { join } from 'node:path';

/** Every fixture node's URL variable must be set for the config to load; the ones not used get a placeholder. */
const PLACEHOLDERS = {
  DSYNC_FIXTURE_POSTGRES_URL: 'unused',
  DSYNC_FIXTURE_SQLITE_URL: 'unused',
  DSYNC_FIXTURE_MYSQL_URL: 'unused',
  DSYNC_FIXTURE_MSSQL_URL: 'unused',
};

export async function generateFixtureNode(dialect: DialectName, check: boolean, outDir?: string): Promise<CliResult> {
  const db = await createTestDatabase(dialect, 'dsync_fx');
  try {
    const d = await getDialect(dialect);
    const client = await d.connect(db.url, dialect);
    await applyFixtureSchema(client);
    await client.close();
    const args = [
      'generate',
      '--config',
      join(FIXTURES, 'dsync.config.json'),
      '--node',
      dialect,
      ...(check ? ['--check'] : []),
      ...(outDir ? ['--out', outDir] : []),
    ];
    return await runCli(args, { env: { ...PLACEHOLDERS, [`DSYNC_FIXTURE_${dialect.toUpperCase()}_URL`]: db.url } });
  } finally {
    await db.drop();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  const { liveDialects } = await import('./databases.ts');
  for (const dialect of (await liveDialects()).filter((d) => d !== 'mssql')) {
    const result = await generateFixtureNode(dialect, false);
    process.stdout.write(result.stdout + result.stderr);
    if (result.code !== 0) process.exitCode = result.code;
  }
}
