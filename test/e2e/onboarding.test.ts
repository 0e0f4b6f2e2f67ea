/**
 * docs/onboarding.md "The command sequence", step by step through the real CLI, on every
 * pair of live brands: a table that already holds rows on node a (inserted before
 * `dsync generate` / `dsync apply`, so no trigger captured them) and is empty on b.
 *
 *   1. the config: both nodes, the table, `"links": [{ "between": ["a", "b"] }]`;
 *   2. `dsync generate`, `dsync apply --dry-run`, `dsync apply`;
 *   3. a seeded random writer inserts, updates and deletes on a (old rows too), with
 *      `dsync sync` now and again;
 *   4. `dsync load --from a --to b --dry-run` (writer paused: exact counts), then
 *      `dsync load --from a --to b` in its own process while the writer and `dsync sync`
 *      go on;
 *   5. `dsync sync` until nothing moves, `dsync verify a b` exits 0;
 *   6. updates on b and inserts on a, `dsync sync`, `dsync verify a b` exits 0.
 * Both nodes are compared with the test's model of the writer's intended rows, not only
 * with each other.
 *
 * ONBOARD_SEED replays a run (the seed is printed); ONBOARD_ROWS (default 2,000) is the
 * number of rows that predate the triggers; ONBOARD_OPS (default 150) the writer's
 * operations before the load and its least number around the load.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { deleteRow, insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import type { LoadReport } from '../../src/runtime/load/load.ts';
import { insertTableRows } from '../../src/runtime/load/load-chunk.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';
import { numberedOrder } from '../helpers/seed-order.ts';

const ROWS = Number(process.env.ONBOARD_ROWS ?? 2_000);
const OPS = Number(process.env.ONBOARD_OPS ?? 150);
const SEED = Number(process.env.ONBOARD_SEED ?? Math.floor(Math.random() * 2 ** 31));
const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['postgres', 'mysql'],
    ['sqlite', 'mysql'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const oldKey = (n: number) => `old${String(n).padStart(6, '0')}`;
const row = numberedOrder;

/** Rows by key whose values differ from the model's (or that one side lacks), at most `max`. */
function differences(actual: ValueMap[], model: Map<string, ValueMap>, max = 5): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (const r of actual) {
    const id = String(r.order_id);
    seen.add(id);
    const want = model.get(id);
    if (JSON.stringify(want) !== JSON.stringify(r) && out.length < max) out.push({ key: id, actual: r, model: want ?? 'absent' });
  }
  for (const [id, want] of model) if (!seen.has(id) && out.length < max) out.push({ key: id, actual: 'absent', model: want });
  return out;
}

/** The writer: seeded inserts, updates and deletes on a, old rows as well as new ones; the model is what it meant. */
function makeWriter(client: DbClient, table: TableSchema, seed: number) {
  const rnd = random(seed);
  const model = new Map<string, ValueMap>();
  for (let i = 0; i < ROWS; i++) model.set(oldKey(i), row(oldKey(i), i));
  const deletedOld: string[] = [];
  let ops = 0;
  let inserted = 0;
  /** Old rows (keys from before the triggers) updated or deleted since the last `mark()`. */
  let touchedOld = { updated: new Set<string>(), deleted: new Set<string>() };
  const pickKey = (old: boolean): string | undefined => {
    if (old) {
      for (let tries = 0; tries < 20; tries++) {
        const k = oldKey(Math.floor(rnd() * ROWS));
        if (model.has(k)) return k;
      }
      return undefined;
    }
    const fresh = [...model.keys()].filter((k) => !k.startsWith('old'));
    return fresh.length ? fresh[Math.floor(rnd() * fresh.length)] : undefined;
  };
  return {
    model,
    get ops() {
      return ops;
    },
    mark() {
      const t = touchedOld;
      touchedOld = { updated: new Set(), deleted: new Set() };
      return t;
    },
    async step(): Promise<void> {
      ops++;
      const roll = rnd();
      const old = rnd() < 0.6;
      if (roll < 0.2) {
        // Insert: a new key, or now and then an old key deleted before (a row that lived before the triggers, back again).
        const again = deletedOld.length > 0 && rnd() < 0.2 ? deletedOld.splice(Math.floor(rnd() * deletedOld.length), 1)[0] : undefined;
        const id = again ?? `new${seed % 1000}_${inserted++}`;
        const values = row(id, 500_000 + ops);
        await insertRow(client, table, values);
        model.set(id, values);
        if (again) touchedOld.updated.add(id);
        return;
      }
      const id = pickKey(old);
      if (!id) return;
      if (roll < 0.75) {
        const change: ValueMap = { quantity: 1_000_000 + ops, description: `updated ${ops} by ${seed}` };
        if (rnd() < 0.3) change.customer_id = `u${ops}`;
        await updateRow(client, table, { order_id: id }, change);
        model.set(id, { ...model.get(id)!, ...change });
        if (id.startsWith('old')) touchedOld.updated.add(id);
      } else {
        await deleteRow(client, table, { order_id: id });
        model.delete(id);
        if (id.startsWith('old')) {
          deletedOld.push(id);
          touchedOld.updated.delete(id);
          touchedOld.deleted.add(id);
        }
      }
    },
  };
}

describe.each(PAIRS)('onboarding, the command sequence, %s ↔ %s', (dialectA, dialectB) => {
  const dbs: TestDatabase[] = [];
  const clients: DbClient[] = [];
  let dir: string | undefined;
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => undefined);
    for (const db of dbs) await db.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`${ROWS} rows that predate the triggers on a, b empty: generate, apply, load while writing, verify, then live both ways`, async () => {
    const seed = SEED;
    console.log(`onboarding ${dialectA} ↔ ${dialectB}: seed ${seed} (ONBOARD_SEED=${seed} replays it)`);
    const workDir = mkdtempSync(join(tmpdir(), 'dsync-onboard-'));
    dir = workDir;
    const cli = (...args: string[]) => runCli(args, { cwd: workDir });
    const ok = async (...args: string[]) => {
      const r = await cli(...args);
      expect(r.code, `dsync ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
      return r;
    };
    /** `dsync sync` until a run moves and applies nothing and nothing waits behind an open transaction. */
    const syncUntilCaughtUp = async () => {
      for (let i = 0; i < 10; i++) {
        const report = JSON.parse((await ok('sync', '--json')).stdout);
        const moved = report.transports.reduce((n: number, t: { moved: number }) => n + t.moved, 0);
        const applied = report.imports.reduce((n: number, t: { applied: number }) => n + t.applied, 0);
        const parked = report.imports.reduce((n: number, t: { parked: number }) => n + t.parked, 0);
        expect(parked, 'parked changes').toBe(0);
        if (moved === 0 && applied === 0 && report.heldBack === 0) return;
      }
      throw new Error('dsync sync did not catch up in 10 runs');
    };

    // The table on both nodes (the seed's DDL), rows on a only, before any dsync object exists.
    const handles: Array<{ db: TestDatabase; client: DbClient; table: TableSchema }> = [];
    for (const [dialectName, prefix] of [
      [dialectA, 'dsync_onb_a'],
      [dialectB, 'dsync_onb_b'],
    ] as const) {
      const db = await createTestDatabase(dialectName, prefix);
      dbs.push(db);
      const dialect = await getDialect(dialectName);
      const client = await dialect.connect(db.url, prefix);
      clients.push(client);
      for (const s of dialect.splitScript(readFileSync(join(FIXTURES, 'seed', `sales_order.${dialectName}.sql`), 'utf8')))
        await client.exec(s);
      handles.push({ db, client, table: await dialect.introspect(client, 'sales_order') });
    }
    const [a, b] = handles;
    for (let start = 0; start < ROWS; start += 1000) {
      const rows: ValueMap[] = [];
      for (let i = start; i < Math.min(ROWS, start + 1000); i++) rows.push(row(oldKey(i), i));
      await a.client.transaction((tx) => insertTableRows(tx, a.table, rows));
    }
    expect(await selectAllRows(b.client, b.table)).toEqual([]);

    // 1. The config: the nodes, the table, the programs both ways as a link.
    writeFileSync(
      join(workDir, 'dsync.config.json'),
      JSON.stringify(
        {
          nodes: {
            a: { dialect: dialectA, url: a.db.url, serverId: 'server-a' },
            b: { dialect: dialectB, url: b.db.url, serverId: 'server-b' },
          },
          tables: [{ name: 'sales_order', conflict: 'latest-wins' }],
          links: [{ between: ['a', 'b'] }],
        },
        null,
        2,
      ),
    );

    // 2. Generate and apply; the dry run applies nothing.
    await ok('generate');
    const plan = await ok('apply', '--dry-run');
    expect(plan.stdout).toMatch(/ds_change_outbox/);
    await expect(a.client.query('SELECT count(*) AS n FROM ds_change_outbox')).rejects.toThrow();
    await ok('apply');
    const writer = makeWriter(a.client, a.table, seed);

    // 3. The writer on a, with `dsync sync` now and again: updates of old rows wait at b for the load.
    for (let i = 0; i < OPS; i++) {
      await writer.step();
      if (i % 50 === 49) await ok('sync');
    }
    const beforeLoad = writer.mark();
    await syncUntilCaughtUp();
    // Updates of old rows wait at b until the load brings their row.
    const pendingAtB = async () => Number(Object.values((await b.client.query('SELECT count(*) AS n FROM ds_change_pending')).rows[0])[0]);
    expect(beforeLoad.updated.size).toBeGreaterThan(0);
    expect(await pendingAtB()).toBeGreaterThan(0);

    // 4a. The load's dry run, the writer paused: exact counts, nothing written at b.
    const onB = new Set((await selectAllRows(b.client, b.table)).map((r) => String(r.order_id)));
    const missingAtB = [...writer.model.keys()].filter((k) => !onB.has(k)).length;
    expect(missingAtB).toBeGreaterThan(ROWS / 2);
    const dry: LoadReport = JSON.parse((await ok('load', '--from', 'a', '--to', 'b', '--dry-run', '--json')).stdout);
    expect(dry.tables.map((t) => [t.table, t.status])).toEqual([['sales_order', 'dry-run']]);
    expect(dry.tables[0].rowsRead).toBe(writer.model.size);
    expect(dry.tables[0].inserted).toBe(missingAtB);
    expect(dry.tables[0].updated).toBe(0);
    expect((await selectAllRows(b.client, b.table)).length).toBe(onB.size);

    // 4b. The load in its own process while the writer goes on without pause and `dsync sync` runs
    // again and again in processes of its own (as `dsync run &` would); then the writer's last ops after it.
    const sizeBefore = writer.model.size;
    const opsBefore = writer.ops;
    let loading = true;
    let whileLoading = 0;
    const load = cli('load', '--from', 'a', '--to', 'b', '--json').finally(() => (loading = false));
    const programs = (async () => {
      let runs = 0;
      while (loading || runs === 0) {
        await ok('sync');
        runs++;
      }
    })();
    for (let i = 0; loading || i < OPS; i++) {
      await writer.step();
      if (loading) whileLoading++;
      // A turn of the event loop (SQLite's driver is synchronous: without one the load's exit is never seen), at a modest pace.
      await new Promise((resolve) => setTimeout(resolve, 3));
    }
    await programs;
    const loaded = await load;
    expect(loaded.code, loaded.stderr).toBe(0);
    const duringLoad = writer.mark();
    const opsAround = writer.ops - opsBefore;
    const report: LoadReport = JSON.parse(loaded.stdout);
    console.log(
      `  load: ${report.tables[0].rowsRead} read, ${report.tables[0].inserted} inserted, ${report.tables[0].updated} updated, existing ${JSON.stringify(report.tables[0].existing)}, ${report.tables[0].pendingMerged} pending merged; writer ${opsAround} ops around it, ${whileLoading} while the load process ran (${duringLoad.updated.size} old rows updated, ${duringLoad.deleted.size} deleted)`,
    );
    expect(report.tables.map((t) => [t.table, t.status])).toEqual([['sales_order', 'done']]);
    expect(report.tables[0].rowsRead).toBeGreaterThanOrEqual(sizeBefore - opsAround);
    expect(report.tables[0].rowsRead).toBeLessThanOrEqual(sizeBefore + opsAround);
    expect(report.tables[0].inserted).toBeGreaterThanOrEqual(missingAtB - opsAround);
    expect(report.tables[0].inserted).toBeLessThanOrEqual(report.tables[0].rowsRead);
    expect(duringLoad.updated.size).toBeGreaterThan(0);
    expect(duringLoad.deleted.size).toBeGreaterThan(0);
    expect(report.tables[0].pendingMerged).toBeGreaterThan(0);

    // 5. Caught up: equal (verify), and each node holds what the writer meant.
    await syncUntilCaughtUp();
    expect(await pendingAtB()).toBe(0);
    const verified = await cli('verify', 'a', 'b');
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    const rowsB = await selectAllRows(b.client, b.table);
    expect(differences(await selectAllRows(a.client, a.table), writer.model)).toEqual([]);
    expect(differences(rowsB, writer.model)).toEqual([]);
    const atB = new Map(rowsB.map((r) => [String(r.order_id), r]));
    for (const k of duringLoad.updated) expect(atB.get(k), k).toEqual(writer.model.get(k));
    for (const k of duringLoad.deleted) if (!writer.model.has(k)) expect(atB.has(k), k).toBe(false);

    // 6. Live both ways: updates on b (old rows and new ones), inserts on a.
    const rnd = random(seed ^ 0x5a5a);
    const keys = [...writer.model.keys()];
    const onBUpdated = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const k = keys[Math.floor(rnd() * keys.length)];
      const change: ValueMap = { description: `edited at b ${i}`, quantity: 2_000_000 + i };
      await updateRow(b.client, b.table, { order_id: k }, change);
      writer.model.set(k, { ...writer.model.get(k)!, ...change });
      onBUpdated.add(k);
    }
    expect([...onBUpdated].some((k) => k.startsWith('old'))).toBe(true);
    for (let i = 0; i < 20; i++) {
      const values = row(`live_a_${i}`, 3_000_000 + i);
      await insertRow(a.client, a.table, values);
      writer.model.set(String(values.order_id), values);
    }
    await syncUntilCaughtUp();
    expect(await pendingAtB()).toBe(0);
    const verifiedAfter = await cli('verify', 'a', 'b');
    expect(verifiedAfter.code, verifiedAfter.stdout + verifiedAfter.stderr).toBe(0);
    expect(differences(await selectAllRows(a.client, a.table), writer.model)).toEqual([]);
    expect(differences(await selectAllRows(b.client, b.table), writer.model)).toEqual([]);
  }, 240_000);
});
