/**
 * Probe (issue 13): the SQLite capture of a send-only node (nodes.<n>.sendOnly: the outbox
 * row only, no ds_row_version entry) against the normal capture and a plain table. Renders
 * sales_order's capture triggers for the fixture node both ways into a temporary directory,
 * then runs sqlite-w-cpu.ts on them: one-row INSERT/UPDATE/DELETE through better-sqlite3 in
 * this machine's process, µs of process CPU per statement, rounds alternating the order.
 * Not a benchmark case: evidence for docs/performance.md.
 *
 *   npx tsx bench/probes/sqlite-send-only-capture.ts [N=10000] [ROUNDS=5]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { generateNode, introspectTables } from '../../src/generate/generate.ts';
import { applyFixtureSchema, fixtureConfig } from '../../test/helpers/fixtures.ts';

const n = process.argv[2] ?? '10000';
const rounds = process.argv[3] ?? '5';
const dir = mkdtempSync(join(tmpdir(), 'dsync-send-only-'));
try {
  const config = fixtureConfig({ sqlite: ':memory:' });
  const client = await sqliteDialect.connect(':memory:', 'sqlite');
  await applyFixtureSchema(client);
  const schemas = await introspectTables(config, sqliteDialect, client);
  await client.close();
  const scripts: string[] = [];
  for (const sendOnly of [false, true]) {
    const node = { ...config.nodes.sqlite, sendOnly };
    const file = generateNode(config, node, sqliteDialect, schemas).find((f) => f.object === 'capture_sales_order');
    if (!file) throw new Error('no capture file for sales_order');
    const path = join(dir, sendOnly ? 'send-only.sql' : 'normal.sql');
    writeFileSync(path, file.content);
    scripts.push(path);
  }
  const args = ['tsx', 'bench/probes/sqlite-w-cpu.ts', n, rounds, 'plain=-', `normal=${scripts[0]}`, `send-only=${scripts[1]}`];
  const run = spawnSync('npx', args, { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
