/**
 * `dsync load` on tables whose rows predate the triggers (seeded with capture silenced,
 * as rows that were there before `apply`): copied while a writer keeps inserting,
 * updating and deleting on the source and the programs run, then synced: equal, nothing
 * waiting. Then a load killed with SIGKILL at seeded random moments and run again:
 * equal, every row copied exactly once.
 *
 * Row counts: LOAD_ROWS (default 20,000 per pair; CI sets the 100,000, which took
 * 61 s PostgreSQL → SQLite and 77 s MariaDB → PostgreSQL on two shared cores at load
 * average 16) for the concurrent load; LOAD_KILL_ROWS (20,000) and LOAD_KILL_ROUNDS (3)
 * for the kill -9 rounds, on every pair.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { compareTables } from '../../src/verify/compare-tables.ts';
import { runCli } from '../helpers/cli.ts';
import { writeConfigFile } from '../helpers/config-file.ts';
import { liveDialects } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { numberedOrder } from '../helpers/seed-order.ts';

const ROWS = Number(process.env.LOAD_ROWS ?? 20_000);
/** Rows and rounds of kill -9 per pair in the kill test (LOAD_KILL_ROWS, LOAD_KILL_ROUNDS). */
const KILL_ROWS = Number(process.env.LOAD_KILL_ROWS ?? 20_000);
const KILL_ROUNDS = Number(process.env.LOAD_KILL_ROUNDS ?? 3);
/**
 * Per test: a guard against a hang, not a speed limit (speed is the bench's). Seeding and loading scale
 * with the rows, and a loaded two-core machine runs several suites at once. Kept tight enough to catch a
 * cliff: generic plans of long key lists made MariaDB → PostgreSQL with 100,000 rows take 399 s instead
 * of 13 s, and run past this guard in CI (docs/performance.md, "8. Load").
 */
const timeoutFor = (rows: number) => Math.max(180_000, rows * 6);
const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const keyOf = (n: number) => `L${String(n).padStart(7, '0')}`;
const order = numberedOrder;

/** Rows that were there before the triggers: written with capture silenced, so no outbox row and no version entry. */
async function seedBeforeTriggers(client: DbClient, table: TableSchema, count: number): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    await client.transaction(async (tx) => {
      await tx.dialect.silenceCapture(tx, true);
      const rows = [];
      for (let i = start; i < Math.min(count, start + 5000); i++) rows.push(order(keyOf(i), i));
      await insertTableRows(tx, table, rows);
      await tx.dialect.silenceCapture(tx, false);
    });
  }
}

/** Inserts, updates and deletes on its own connection until stopped; keys spread over the whole key range. */
function startWriter(client: DbClient, table: TableSchema, seed: number) {
  const rnd = random(seed);
  let stopped = false;
  let ops = 0;
  let inserted = 0;
  const done = (async () => {
    while (!stopped) {
      const n = Math.floor(rnd() * ROWS);
      const roll = rnd();
      if (roll < 0.5) await updateRow(client, table, { order_id: keyOf(n) }, { quantity: 1_000_000 + ops, description: `updated ${ops}` });
      else if (roll < 0.75) await insertRow(client, table, order(`${keyOf(n)}w${inserted++}`, ops));
      else await deleteRow(client, table, { order_id: keyOf(n) });
      ops++;
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return ops;
    },
  };
}

async function expectEqual(pair: SyncPair, rows: number): Promise<void> {
  await pair.syncAll();
  const result = await compareTables(
    { client: pair.a.client, table: pair.tables.a.sales_order },
    { client: pair.b.client, table: pair.tables.b.sales_order },
  );
  if (process.env.LOAD_DEBUG && result.differences.length) {
    const key = JSON.stringify(result.differences[0].key.order_id);
    for (const [n, c] of [
      ['a', pair.a.client],
      ['b', pair.b.client],
    ] as const) {
      console.log(n, 'version', (await c.query(`SELECT * FROM ds_row_version WHERE row_key = '${key}'`)).rows);
      console.log(
        n,
        'outbox',
        (
          await c.query(
            `SELECT id, object_operation, row_cl, change_version, updated_by_server_id FROM ds_change_outbox WHERE object_id = '${key}'`,
          )
        ).rows,
      );
      console.log(
        n,
        'inbox',
        (await c.query(`SELECT id, object_operation, row_cl, change_version FROM ds_change_inbox WHERE object_id = '${key}'`)).rows,
      );
      console.log(n, 'errors', (await c.query(`SELECT * FROM ds_change_error`)).rows.slice(0, 3));
    }
  }
  expect(result.differences.slice(0, 5)).toEqual([]);
  expect(result.differenceCount).toBe(0);
  expect(result.rowsA).toBeGreaterThan(rows / 2);
  if (process.env.LOAD_DEBUG) {
    const pending = (await pair.b.client.query('SELECT * FROM ds_change_pending')).rows;
    console.log('pending', pending);
    for (const p of pending) {
      console.log(
        'inbox',
        (
          await pair.b.client.query(
            `SELECT id, object_id, object_operation, row_cl, change_version, object_value FROM ds_change_inbox WHERE object_id = '${p.row_key}'`,
          )
        ).rows,
      );
      console.log('b entry', (await pair.b.client.query(`SELECT * FROM ds_row_version WHERE row_key = '${p.row_key}'`)).rows);
      console.log('a entry', (await pair.a.client.query(`SELECT * FROM ds_row_version WHERE row_key = '${p.row_key}'`)).rows);
    }
  }
  expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_pending')).toBe(0);
}

/** Rows the load committed so far at the target (0 before its first chunk). */
async function copiedRows(pair: SyncPair): Promise<number> {
  const { rows } = await pair.b.client.query('SELECT rows_copied FROM ds_load_state');
  return rows.length ? Number(rows[0].rows_copied) : 0;
}

describe.each(PAIRS)('load %s → %s', (from, to) => {
  const pairs: SyncPair[] = [];
  afterAll(async () => {
    for (const pair of pairs) await pair.close();
  });

  it(
    `copies ${ROWS} pre-trigger rows while the source takes writes; then sync: equal`,
    async () => {
      const pair = await createSyncPair(from, to);
      pairs.push(pair);
      await seedBeforeTriggers(pair.a.client, pair.tables.a.sales_order, ROWS);
      const dialect = await getDialect(from);
      const writerClient = await dialect.connect(pair.config.nodes.a.url, 'writer');
      const writer = startWriter(writerClient, pair.tables.a.sales_order, 7);
      // The programs run too: some updates of pre-trigger rows reach b before the load brings the row.
      let loading = true;
      const programs = (async () => {
        while (loading) {
          await pair.forwardOnce();
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();
      // The load runs in its own process, as users run it: better-sqlite3 waits for a lock
      // synchronously, so an import waiting in this process would also stall a load here.
      const dir = mkdtempSync(join(tmpdir(), 'dsync-load-'));
      try {
        const result = await runCli([
          '--config',
          writeConfigFile(pair.config, dir),
          'load',
          '--from',
          'a',
          '--to',
          'b',
          '--table',
          'sales_order',
          '--json',
        ]);
        expect(result.stderr).not.toMatch(/error|fail/i);
        expect(result.code, result.stderr).toBe(0);
        const report = JSON.parse(result.stdout);
        expect(report.tables[0].status).toBe('done');
        expect(report.tables[0].rowsRead).toBeGreaterThan(ROWS / 2);
      } finally {
        loading = false;
        await programs;
        const ops = await writer.stop();
        expect(ops).toBeGreaterThan(10);
        await writerClient.close();
        rmSync(dir, { recursive: true, force: true });
      }
      await expectEqual(pair, ROWS);
    },
    timeoutFor(ROWS),
  );

  it(
    `continues after kill -9 at ${KILL_ROUNDS} random moments (${KILL_ROWS} rows); equal, each row copied once`,
    async () => {
      const pair = await createSyncPair(from, to);
      pairs.push(pair);
      await seedBeforeTriggers(pair.a.client, pair.tables.a.sales_order, KILL_ROWS);
      const dir = mkdtempSync(join(tmpdir(), 'dsync-load-'));
      try {
        const config = writeConfigFile(pair.config, dir);
        const args = ['--config', config, 'load', '--from', 'a', '--to', 'b', '--table', 'sales_order', '--chunk-rows', '500'];
        const rnd = random(20261130);
        let resumed = 0;
        for (let round = 0; round < KILL_ROUNDS; round++) {
          const child: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), ...args], { stdio: 'ignore' });
          let running = true;
          const exited = new Promise((resolve) => child.once('exit', resolve)).finally(() => (running = false));
          // Killed while it copies (not while the process starts, which is slow on a loaded machine):
          // after this round's first committed chunk, at a seeded random moment.
          const before = await copiedRows(pair);
          for (let waited = 0; running && waited < 60_000 && (await copiedRows(pair)) <= before; waited += 50) {
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          await new Promise((resolve) => setTimeout(resolve, Math.floor(rnd() * 600)));
          child.kill('SIGKILL');
          await exited;
        }
        const { rows } = await pair.b.client.query('SELECT rows_copied, status FROM ds_load_state');
        // A round may have finished before its kill came (a fast machine): then the rerun finds it done.
        const finished = rows.length > 0 && rows[0].status === 'done';
        if (rows.length) resumed = Number(rows[0].rows_copied);
        const last = await runCli(args);
        expect(last.stderr).not.toMatch(/error|fail/i);
        expect(last.code, last.stderr).toBe(0);
        if (resumed > 0) expect(last.stdout).toContain(finished ? 'loaded before' : 'continued after key');
        const state = await pair.b.client.query('SELECT rows_copied, status FROM ds_load_state');
        expect(state.rows[0].status).toBe('done');
        // Every row copied exactly once over all the runs: no chunk counted (or written) twice.
        expect(Number(state.rows[0].rows_copied)).toBe(KILL_ROWS);
        expect(await pair.count(pair.b.client, 'SELECT count(*) FROM sales_order')).toBe(KILL_ROWS);
        const again = await runCli(args);
        expect(again.stdout).toContain('loaded before');
        await expectEqual(pair, KILL_ROWS);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    timeoutFor(KILL_ROWS * 2),
  );
});
