/**
 * Randomized fault injection (seeded; the seed is in every failure message, replay with
 * DSYNC_FAULT_SEED=n): while a writer keeps changing the source, `dsync sync` runs in a
 * child process that is SIGKILLed at random moments, target writes fail at random (a
 * target trigger rejects some rows for a while), and the import's connection is killed
 * from another session. At the end, after the faults stop and what is parked is retried:
 * the target equals the source, nothing is left parked, nothing was applied twice.
 * Targets whose transport applies the changes itself (directApply) run the same, a receive-only
 * one and one that keeps versions: their deliveries are counted by the mark, not by the inbox. On
 * the replica a change applied twice would show as a conflict (nothing is written there but by
 * dsync); the other sends back to the source (so it records what it applies, for forwarding),
 * where a change applied twice shows as two records of it.
 * DSYNC_FAULT_SECONDS sets how long the faults run per pair (default 20).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { resolveParkedChange } from '../../src/runtime/import/resolve-parked.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { runCli } from '../helpers/cli.ts';
import { liveDialects } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'mysql', ''],
    ['mysql', 'postgres', ''],
    ['sqlite', 'postgres', ''],
    ['postgres', 'mysql', ' (directApply)'],
    ['sqlite', 'postgres', ' (directApply, keeps versions)'],
  ] as Array<[DialectName, DialectName, string]>
).filter(([a, b]) => live.includes(a) && live.includes(b));
const SECONDS = Number(process.env.DSYNC_FAULT_SECONDS ?? 20);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A target trigger that rejects writes of order_line rows whose order_id is in ds_test_block. */
async function installRejecter(client: DbClient): Promise<void> {
  const dialect = client.dialect.name;
  if (dialect === 'postgres') {
    await client.exec(`
      CREATE TABLE ds_test_block (order_id varchar(20) PRIMARY KEY);
      CREATE FUNCTION ds_test_reject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM ds_test_block WHERE order_id = NEW.order_id) THEN RAISE EXCEPTION 'rejected by the target'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ds_test_reject BEFORE INSERT OR UPDATE ON order_line FOR EACH ROW EXECUTE FUNCTION ds_test_reject();`);
  } else if (dialect === 'mysql') {
    await client.query('CREATE TABLE ds_test_block (order_id VARCHAR(20) PRIMARY KEY)');
    for (const event of ['INSERT', 'UPDATE']) {
      await client.query(`CREATE TRIGGER ds_test_reject_${event.toLowerCase()} BEFORE ${event} ON order_line FOR EACH ROW
        BEGIN IF EXISTS (SELECT 1 FROM ds_test_block WHERE order_id = NEW.order_id) THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'rejected by the target'; END IF; END`);
    }
  } else {
    await client.query('CREATE TABLE ds_test_block (order_id TEXT PRIMARY KEY)');
    for (const event of ['INSERT', 'UPDATE']) {
      await client.query(`CREATE TRIGGER ds_test_reject_${event.toLowerCase()} BEFORE ${event} ON order_line
        WHEN EXISTS (SELECT 1 FROM ds_test_block WHERE order_id = NEW.order_id) BEGIN SELECT RAISE(ABORT, 'rejected by the target'); END`);
    }
  }
}

/** Kills the target's other connections (the child's), keeping the test's own `keep` sessions. */
async function killImportConnections(killer: DbClient, keep: DbClient[]): Promise<void> {
  if (killer.dialect.name === 'postgres') {
    const mine: number[] = [];
    for (const c of keep) mine.push(Number((await c.query<Row>('SELECT pg_backend_pid() AS pid')).rows[0].pid));
    await killer.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND NOT (pid = ANY($1::int[]))`,
      [mine],
    );
  } else if (killer.dialect.name === 'mysql') {
    const mine: number[] = [];
    for (const c of keep) mine.push(Number((await c.query<Row>('SELECT CONNECTION_ID() AS id')).rows[0].id));
    const { rows } = await killer.query<Row>(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND ID <> CONNECTION_ID()',
    );
    for (const r of rows) if (!mine.includes(Number(r.id))) await killer.query(`KILL ${Number(r.id)}`).catch(() => undefined);
  }
}

describe.each(PAIRS)('fault injection %s → %s%s', (from, to, variant) => {
  const directApply = variant === '' ? undefined : variant.includes('versions') ? 'versioned' : 'replica';
  let pair: SyncPair | undefined;
  let killerNodes: NodeSet | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'dsync-fault-'));
  afterAll(async () => {
    await killerNodes?.closeAll();
    await pair?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`converges after ${SECONDS} s of kills, rejected writes and killed connections`, { timeout: (SECONDS + 120) * 1000 }, async () => {
    const seed = Number(process.env.DSYNC_FAULT_SEED ?? Math.floor(Math.random() * 1e9));
    const label = `seed ${seed} (replay: DSYNC_FAULT_SEED=${seed})`;
    try {
      pair = await createSyncPair(from, to, 'latest-wins', { directApply });
      const p = pair;
      const rnd = random(seed);
      killerNodes = new NodeSet(p.config);
      const killer = (await killerNodes.get('b')).client;
      await installRejecter(p.b.client);
      const configPath = join(dir, 'dsync.config.json');
      const node = (name: 'a' | 'b') => ({
        dialect: p.config.nodes[name].dialect,
        url: p.config.nodes[name].url,
        serverId: p.config.nodes[name].serverId,
        ...(p.config.nodes[name].directApply ? { directApply: true } : {}),
        ...(p.config.nodes[name].receiveOnly ? { receiveOnly: true } : {}),
      });
      writeFileSync(
        configPath,
        JSON.stringify({
          nodes: { a: node('a'), b: node('b') },
          tables: ['sales_order', 'order_line', 'type_zoo', 'Odd Names'],
          programs: [
            { id: 1000, type: 'transport', from: 'a', to: 'b', batchSize: 20 },
            { id: 1001, type: 'import', node: 'b', batchSize: 20 },
            // Back to a from a node that keeps versions: b then records what it applies (forwarding), one record per change.
            ...(directApply === 'versioned'
              ? [
                  { id: 1002, type: 'transport', from: 'b', to: 'a', batchSize: 20 },
                  { id: 1003, type: 'import', node: 'a', batchSize: 20 },
                ]
              : []),
          ],
          generatedDir: p.config.generatedDir,
        }),
      );
      const table = p.tables.a.order_line;
      const rows = new Map<string, ValueMap>();
      let stop = false;
      let writes = 0;
      const writer = (async () => {
        for (let i = 0; !stop; i++) {
          const existing = [...rows.values()];
          const roll = rnd();
          if (existing.length < 5 || roll < 0.35) {
            const row = {
              order_id: `o${Math.floor(rnd() * 6)}`,
              line_no: Math.floor(rnd() * 20),
              product: `p${i}`,
              amount: (rnd() * 1000).toFixed(2),
            };
            const id = `${row.order_id}/${row.line_no}`;
            if (rows.has(id)) continue;
            await insertRow(p.a.client, table, row);
            rows.set(id, row);
          } else if (roll < 0.85) {
            const row = existing[Math.floor(rnd() * existing.length)];
            await updateRow(p.a.client, table, { order_id: row.order_id, line_no: row.line_no }, { product: `q${i}` });
          } else {
            const row = existing[Math.floor(rnd() * existing.length)];
            await deleteRow(p.a.client, table, { order_id: row.order_id, line_no: row.line_no });
            rows.delete(`${row.order_id}/${row.line_no}`);
          }
          writes++;
          await sleep(5 + rnd() * 20);
        }
      })();

      const cli = join(ROOT, 'bin', 'dsync.js');
      const runSync = (killAfterMs: number | null) =>
        new Promise<number | null>((resolve) => {
          const child: ChildProcess = spawn(process.execPath, [cli, '--config', configPath, 'sync'], { stdio: 'ignore' });
          const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
          child.on('exit', (code) => {
            if (timer) clearTimeout(timer);
            resolve(code);
          });
        });
      const deadline = Date.now() + SECONDS * 1000;
      let [runs, kills, connectionKills, retried] = [0, 0, 0, 0];
      while (Date.now() < deadline) {
        const roll = rnd();
        if (roll < 0.15)
          await p.b.client.query(`INSERT INTO ds_test_block (order_id) VALUES ('o${Math.floor(rnd() * 6)}')`).catch(() => undefined);
        else if (roll < 0.25) await p.b.client.query('DELETE FROM ds_test_block');
        // Most runs are killed at a random moment; the others may finish (a long one is cut at 8 s).
        const killAfter = rnd() < 0.7 ? Math.floor(100 + rnd() * 1500) : 8000;
        const connectionKill =
          rnd() < 0.5 ? sleep(Math.floor(50 + rnd() * 600)).then(() => killImportConnections(killer, [p.b.client])) : null;
        const code = await runSync(killAfter);
        await connectionKill;
        runs++;
        if (code === null) kills++;
        if (connectionKill) connectionKills++;
      }
      stop = true;
      await writer;

      // The faults stop: the cause of the rejections is fixed, parked changes are retried.
      await p.b.client.query('DELETE FROM ds_test_block');
      for (let round = 0; round < 10; round++) {
        const result = await runCli(['--config', configPath, 'sync']);
        expect(result.code, `${label}: ${result.stderr}`).toBe(0);
        const b = (await p.nodes.get('b')).client;
        const heads = (await listParked(b)).filter((x) => x.status === 'open');
        if (heads.length === 0) break;
        for (const head of heads) await resolveParkedChange(p.config, await p.nodes.get('b'), head.id, 'retry');
        retried += heads.length;
      }
      console.log(
        `fault injection ${from} → ${to}${variant}: ${label}, ${writes} writes, ${runs} sync runs, ${kills} SIGKILLed, ${connectionKills} connection kills, ${retried} parked changes retried`,
      );
      const b = (await p.nodes.get('b')).client;
      expect(await listParked(b), label).toEqual([]);
      const compared = await compareTables({ client: p.a.client, table }, { client: b, table: p.tables.b.order_line });
      expect(hasDifferences(compared), `${label}: ${JSON.stringify(compared).slice(0, 2000)}`).toBe(false);
      const { rows: twice } = await b.query<Row>(
        'SELECT updated_by_server_id, origin_change_id, count(*) AS n FROM ds_change_outbox WHERE origin_change_id IS NOT NULL GROUP BY updated_by_server_id, origin_change_id HAVING count(*) > 1',
      );
      expect(twice, label).toEqual([]);
      // A replica records nothing it applied (it forwards nothing): a change applied again over a later one conflicts.
      // Some batches were applied without the inbox (every change would be there otherwise).
      if (directApply)
        expect(
          Number((await b.query<Row>('SELECT count(*) AS n FROM ds_change_inbox')).rows[0].n),
          `${label}: nothing applied directly`,
        ).toBeLessThan(writes);
      if (directApply === 'replica')
        expect(Number((await b.query<Row>('SELECT count(*) AS n FROM ds_change_conflict')).rows[0].n), label).toBe(0);
      expect(writes, label).toBeGreaterThan(50);
      expect(kills, label).toBeGreaterThan(0);
    } catch (error) {
      if (error instanceof Error && !error.message.includes(label)) error.message = `${label}: ${error.message}`;
      throw error;
    }
  });
});
