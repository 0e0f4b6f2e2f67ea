/**
 * MySQL/MariaDB capture on a send-only node (`nodes.<n>.sendOnly`): two databases with the
 * fixture tables, one node keeping versions and one send-only, run the same seeded random
 * statements (single- and multi-row inserts, updates and deletes, key changes, updates that
 * change nothing, NULLs, some under the origin flag, some several to a transaction) at the
 * same session timestamps. Every outbox row must be the normal node's, column for column,
 * except id, row_cl, row_cl_old and change_version, which are NULL on the send-only node; its
 * ds_row_version stays empty and its triggers name no version store. The node's own name
 * and server id are compared as placeholders. The seed is printed; `SEED=n` replays it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { setUpFixtureNode } from '../helpers/sync-node.ts';
import { ZOO_COLUMNS, zooValue } from '../helpers/mysql-zoo.ts';
import { oddText, random } from '../helpers/random.ts';
import { extraSessions } from '../helpers/sync-pair.ts';
import { until } from '../helpers/until.ts';

const live = await liveDialects();
const NODES = ['normal', 'sender'] as const;
const TABLES = ['sales_order', 'order_line', 'type_zoo', 'Odd Names'];
const VERSION_COLUMNS = ['row_cl', 'row_cl_old', 'change_version'];

interface Origin {
  server: string | null;
  changeId: number | null;
  user: string | null;
  time: string | null;
}
interface Op {
  sql: string;
  params: unknown[];
  origin: Origin | null;
  /** Seconds since 1970 for SET timestamp (the triggers' UTC_TIMESTAMP and the outbox default). */
  at: number;
}

/** The seeded run, as batches: a batch of several statements runs as one transaction. */
function plan(seed: number, count: number): Op[][] {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const zoo = new Set<number>();
  const orders = new Set<string>();
  const lines = new Map<string, Set<number>>();
  const odd = new Set<number>();
  const pick = <T>(keys: Set<T>) => [...keys][int(keys.size)];
  const fresh = <T>(keys: Set<T>, make: () => T) => {
    let k = make();
    while (keys.has(k)) k = make();
    keys.add(k);
    return k;
  };
  const batches: Op[][] = [];
  let at = 1_767_225_600;
  let batch: Op[] = [];
  for (let i = 0; i < count; i++) {
    if (batch.length > 0 && next() < 0.6) {
      batches.push(batch);
      batch = [];
    }
    // Often the same microsecond as the statement before.
    if (next() < 0.6) at += int(3_000_000) / 1e6;
    const origin: Origin | null =
      next() < 0.2
        ? {
            server: next() < 0.7 ? `srv${int(3)}` : null,
            changeId: next() < 0.6 ? int(1e6) : null,
            user: next() < 0.6 ? oddText(next, 8) : null,
            time: next() < 0.6 ? '2025-01-02 03:04:05.000006' : null,
          }
        : null;
    const op = (sql: string, params: unknown[]) => batch.push({ sql, params, origin, at });
    const table = int(4);
    const r = next();
    if (table === 0) {
      if (r < 0.3 || zoo.size === 0) {
        // One to three rows in one statement.
        const ids = Array.from({ length: 1 + int(3) }, () => fresh(zoo, () => int(1000)));
        const row = `(?${', ?'.repeat(ZOO_COLUMNS.length)})`;
        op(
          `INSERT INTO type_zoo (id, ${ZOO_COLUMNS.join(', ')}) VALUES ${ids.map(() => row).join(', ')}`,
          ids.flatMap((id) => [id, ...ZOO_COLUMNS.map((c) => zooValue(next, c))]),
        );
      } else if (r < 0.65) {
        const id = pick(zoo);
        const columns = ZOO_COLUMNS.filter(() => next() < 0.25);
        const sets = columns.map((c) => `${c} = ?`);
        const params: unknown[] = columns.map((c) => zooValue(next, c));
        if (next() < 0.15) {
          zoo.delete(id);
          sets.push('id = ?');
          params.push(fresh(zoo, () => int(1000)));
        }
        // No column: an update that changes nothing.
        op(`UPDATE type_zoo SET ${sets.length ? sets.join(', ') : 'id = id'} WHERE id = ?`, [...params, id]);
      } else if (r < 0.75) {
        op('UPDATE type_zoo SET c_int = COALESCE(c_int, 0) + 1, c_varchar = NULLIF(CONCAT(COALESCE(c_varchar, ?), ?), ?) WHERE id < ?', [
          'n',
          oddText(next, 3),
          'n',
          int(1000),
        ]);
      } else if (r < 0.8) {
        // Same values again: matched, nothing changed.
        op('UPDATE type_zoo SET c_text = c_text, c_bool = c_bool WHERE id >= ?', [int(1000)]);
      } else if (r < 0.9) {
        const id = pick(zoo);
        zoo.delete(id);
        op('DELETE FROM type_zoo WHERE id = ?', [id]);
      } else {
        const below = int(1000);
        for (const id of [...zoo]) if (id < below && id >= below - 200) zoo.delete(id);
        op('DELETE FROM type_zoo WHERE id < ? AND id >= ?', [below, below - 200]);
      }
    } else if (table === 1) {
      if (r < 0.35 || orders.size === 0) {
        const id = fresh(orders, () => `o${int(1000)}${next() < 0.1 ? ' x' : ''}`);
        op(
          'INSERT INTO sales_order (order_id, order_type, description, product_type_name, customer_id, quantity, order_date, update_datetime, updated_by_user, updated_by_server) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [
            id,
            'std',
            next() < 0.2 ? null : oddText(next, 10),
            'p',
            `c${int(9)}`,
            next() < 0.2 ? null : int(100),
            '2025-01-01',
            null,
            'u',
            's',
          ],
        );
      } else if (r < 0.7) {
        const id = pick(orders);
        const column = ['quantity', 'description', 'order_type', 'order_date', 'customer_id'][int(5)];
        const value =
          next() < 0.2
            ? null
            : column === 'quantity'
              ? int(1000)
              : column === 'order_date'
                ? '2025-02-03'
                : next() < 0.5
                  ? 'STD'
                  : oddText(next, 6);
        // A trailing space in the key still finds the row (PAD SPACE).
        op(`UPDATE sales_order SET ${column} = ? WHERE order_id = ?`, [value, `${id}${next() < 0.1 ? ' ' : ''}`]);
      } else if (r < 0.8) {
        const id = pick(orders);
        orders.delete(id);
        const to = fresh(orders, () => `k${int(1000)}`);
        op('UPDATE sales_order SET order_id = ?, quantity = ? WHERE order_id = ?', [to, int(50), id]);
      } else if (r < 0.9) {
        op('UPDATE sales_order SET quantity = quantity + 1 WHERE customer_id = ?', [`c${int(9)}`]);
      } else {
        const id = pick(orders);
        orders.delete(id);
        op('DELETE FROM sales_order WHERE order_id = ?', [id]);
      }
    } else if (table === 2) {
      if (r < 0.35 || lines.size === 0) {
        const order = next() < 0.5 && lines.size ? pick(new Set(lines.keys())) : `l${int(100)}`;
        const have = lines.get(order) ?? new Set<number>();
        lines.set(order, have);
        const nos = Array.from({ length: 1 + int(3) }, () => fresh(have, () => int(100)));
        op(
          `INSERT INTO order_line (order_id, line_no, product, amount) VALUES ${nos.map(() => '(?, ?, ?, ?)').join(', ')}`,
          nos.flatMap((n) => [order, n, oddText(next, 5), next() < 0.2 ? null : `${int(1e6)}.${String(int(100)).padStart(2, '0')}`]),
        );
      } else if (r < 0.55) {
        const order = pick(new Set(lines.keys()));
        op('UPDATE order_line SET amount = ? WHERE order_id = ? AND line_no = ?', [
          next() < 0.3 ? null : `${int(1000)}.5`,
          order,
          pick(lines.get(order) as Set<number>),
        ]);
      } else if (r < 0.7) {
        // Every line of one order to another order id: a key change of several rows in one statement.
        const order = pick(new Set(lines.keys()));
        let to = `m${int(1000)}`;
        while (lines.has(to)) to = `m${int(1000)}`;
        lines.set(to, lines.get(order) as Set<number>);
        lines.delete(order);
        op('UPDATE order_line SET order_id = ? WHERE order_id = ?', [to, order]);
      } else if (r < 0.8) {
        op('UPDATE order_line SET product = product WHERE order_id = ?', [pick(new Set(lines.keys()))]);
      } else {
        const order = pick(new Set(lines.keys()));
        lines.delete(order);
        op('DELETE FROM order_line WHERE order_id = ?', [order]);
      }
    } else {
      if (r < 0.4 || odd.size === 0) {
        const n = fresh(odd, () => int(1000));
        op("INSERT INTO `Odd Names` (`Key Col`, `select`, `it's`, `back``tick`) VALUES (?, ?, ?, ?)", [
          n,
          oddText(next, 6),
          next() < 0.3 ? null : oddText(next, 6),
          null,
        ]);
      } else if (r < 0.8) {
        op('UPDATE `Odd Names` SET `select` = ?, `tilde~col` = ? WHERE `Key Col` = ?', [
          oddText(next, 4),
          next() < 0.3 ? null : oddText(next, 4),
          pick(odd),
        ]);
      } else {
        const n = pick(odd);
        odd.delete(n);
        op('DELETE FROM `Odd Names` WHERE `Key Col` = ?', [n]);
      }
    }
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/** Runs `ops` on `client` (in one transaction when several); each statement's outcome, an error's message or its row count. */
async function run(client: DbClient, ops: Op[]): Promise<string[]> {
  const one = async (c: DbClient, op: Op) => {
    await c.exec(`SET timestamp = ${op.at.toFixed(6)}`);
    const o = op.origin;
    if (o)
      await c.query('SET @dsync_origin_server = ?, @dsync_origin_change_id = ?, @dsync_origin_user = ?, @dsync_origin_time = ?', [
        o.server,
        o.changeId,
        o.user,
        o.time,
      ]);
    const outcome = await c.query(op.sql, op.params).then(
      (r) => `ok ${r.rowCount}`,
      (e: Error) => `error ${e.message}`,
    );
    if (o)
      await c.exec('SET @dsync_origin_server = NULL, @dsync_origin_change_id = NULL, @dsync_origin_user = NULL, @dsync_origin_time = NULL');
    return outcome;
  };
  const outcomes: string[] = [];
  if (ops.length === 1) outcomes.push(await one(client, ops[0]));
  else
    await client.transaction(async (tx) => {
      for (const op of ops) outcomes.push(await one(tx, op));
    });
  await client.exec('SET timestamp = DEFAULT');
  return outcomes;
}

describe.skipIf(!live.includes('mysql'))('mysql capture on a send-only node', () => {
  const dbs: TestDatabase[] = [];
  let nodes: NodeSet;
  const clients: Record<string, DbClient> = {};
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-send-only-'));
  const sessions = extraSessions(async () => {
    const handle = await nodes.get('sender');
    return handle.dialect.connect(handle.node.url, 'sender');
  });

  beforeAll(async () => {
    for (const name of NODES) dbs.push(await createTestDatabase('mysql', `dsync_${name}`));
    // The sender sends to the normal node; nothing goes into the sender (config refuses it).
    const config = parseConfig(
      {
        nodes: {
          normal: { dialect: 'mysql', url: dbs[0].url, serverId: 'server-normal' },
          sender: { dialect: 'mysql', url: dbs[1].url, serverId: 'server-sender', sendOnly: true },
        },
        tables: ['sales_order', 'order_line', 'type_zoo', { name: 'Odd Names', conflict: 'source-wins' }],
        programs: [
          { id: 1, type: 'transport', from: 'sender', to: 'normal' },
          { id: 2, type: 'import', node: 'normal' },
        ],
        generatedDir,
      },
      FIXTURES,
      null,
    );
    expect(config.nodes.sender.sendOnly).toBe(true);
    nodes = new NodeSet(config);
    for (const name of NODES) {
      const handle = await nodes.get(name);
      await setUpFixtureNode(config, handle.node, handle.dialect, handle.client, generatedDir);
      clients[name] = handle.client;
    }
  });
  afterAll(async () => {
    await sessions.closeAll();
    await nodes?.closeAll();
    for (const db of dbs) await db.drop();
    rmSync(generatedDir, { recursive: true, force: true });
  });

  it("the send-only node's triggers name no version store, the normal node's do", async () => {
    for (const name of NODES) {
      const { rows } = await clients[name].query<Row>(
        'SELECT EVENT_OBJECT_TABLE AS t, ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND ACTION_TIMING = ?',
        ['AFTER'],
      );
      expect(new Set(rows.map((r) => r.t))).toEqual(new Set(TABLES));
      expect(rows).toHaveLength(TABLES.length * 3);
      for (const { body } of rows) {
        const versions = /ds_row_version|@dsync_cl\b|dsync_patch/.test(String(body));
        expect(versions).toBe(name === 'normal');
        // The send-only rows' only use of @dsync_version: the mark the fence trigger takes (upgrade step 20).
        if (name === 'sender')
          expect(
            String(body)
              .match(/@dsync_version\b[^;]*/g)
              ?.every((use) => use.startsWith('@dsync_version := -1)')),
          ).toBe(true);
      }
    }
  });

  it("writes the normal capture's outbox rows without versions, for a seeded random run", async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    try {
      const batches = plan(seed, 400);
      for (const batch of batches) {
        const outcomes = await run(clients.normal, batch);
        expect(await run(clients.sender, batch)).toEqual(outcomes);
      }
      // The node's own name and server id as placeholders; the rest as read.
      const read = async (name: string) => {
        const { rows } = await clients[name].query<Row>('SELECT * FROM ds_change_outbox ORDER BY id');
        const own = (v: unknown, mine: string, as: string) => (v === mine ? as : v);
        return rows.map(
          ({ id, ...r }): Row => ({
            ...r,
            object_database: own(r.object_database, name, '(node)'),
            updated_by_server_id: own(r.updated_by_server_id, `server-${name}`, '(server)'),
          }),
        );
      };
      const normal = await read('normal');
      const sender = await read('sender');
      const without = (rows: Row[]) => rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !VERSION_COLUMNS.includes(k))));
      // The run reaches every kind of row.
      expect(normal.length).toBeGreaterThan(300);
      for (const op of ['I', 'U', 'D']) expect(normal.some((r) => r.object_operation === op)).toBe(true);
      expect(normal.some((r) => r.object_id_old !== null)).toBe(true);
      expect(normal.some((r) => r.origin_change_id !== null)).toBe(true);
      expect(normal.some((r) => r.updated_by_server_id === '(server)')).toBe(true);
      expect(normal.every((r) => r.row_cl !== null && r.change_version !== null)).toBe(true);
      expect(normal.filter((r) => r.object_id_old !== null).every((r) => r.row_cl_old !== null)).toBe(true);
      expect(without(sender)).toEqual(without(normal));
      for (const r of sender) for (const c of VERSION_COLUMNS) expect(r[c]).toBeNull();
      const entries = async (name: string) =>
        Number((await clients[name].query<Row>('SELECT COUNT(*) AS n FROM ds_row_version')).rows[0].n);
      expect(await entries('sender')).toBe(0);
      expect(await entries('normal')).toBeGreaterThan(0);
      for (const table of TABLES) {
        const q = `SELECT * FROM ${clients.normal.dialect.sql.ident(table)} ORDER BY 1, 2`;
        expect((await clients.sender.query(q)).rows).toEqual((await clients.normal.query(q)).rows);
      }
    } catch (error) {
      console.log(`mysql-send-only-capture seed ${seed} (SEED=${seed} replays it)`);
      throw error;
    }
  });

  it("a send-only capture's outbox row skips the fence read (upgrade step 20), stays below the horizon while open, and stores no version", async () => {
    const app = await sessions.session();
    const probe = await sessions.session();
    const fenceHeld = () =>
      probe.transaction(async (tx) => {
        const outcome = await tx.query('SELECT id FROM ds_change_fence WHERE id = 1 FOR UPDATE NOWAIT').catch((e: unknown) => e);
        return outcome instanceof Error;
      });
    const lastId = async () => Number((await probe.query<Row>('SELECT MAX(id) AS id FROM ds_change_outbox')).rows[0].id ?? 0);
    const before = await lastId();
    await app.transaction(async (tx) => {
      await tx.query("INSERT INTO sales_order (order_id, quantity) VALUES ('fence1', 1)");
      await tx.query("UPDATE sales_order SET quantity = 2 WHERE order_id = 'fence1'");
      // The transaction wrote sales_order's row before its outbox rows took ids: the horizon waits for it without the fence.
      expect(await fenceHeld()).toBe(false);
      expect(await probe.dialect.readSafeHorizon(probe, 'ds_change_outbox')).toBeLessThanOrEqual(before);
      await tx.query("DELETE FROM sales_order WHERE order_id = 'fence1'");
    });
    // The horizon is server-wide: a transaction of the test file running beside this one holds it back until it ends.
    const horizon = () => probe.dialect.readSafeHorizon(probe, 'ds_change_outbox');
    expect(await until(async () => (await horizon()) >= before + 3)).toBe(true);
    expect(await horizon()).toBe(before + 3);
    const { rows: written } = await app.query<Row>(
      'SELECT object_operation AS op, change_version AS v FROM ds_change_outbox WHERE id > ? ORDER BY id',
      [before],
    );
    expect(written).toEqual([
      { op: 'I', v: null },
      { op: 'U', v: null },
      { op: 'D', v: null },
    ]);
    const { rows } = await app.query<Row>('SELECT @dsync_version AS v, @dsync_cl AS cl');
    expect(rows[0]).toEqual({ v: null, cl: null });
    // A hand-written row in the app session's next transaction reads the fence, with a version of -1 too.
    for (const version of [null, -1]) {
      await app.exec('START TRANSACTION');
      try {
        await app.query("INSERT INTO ds_change_outbox (object_table, object_operation, change_version) VALUES ('sales_order', 'I', ?)", [
          version,
        ]);
        expect(await fenceHeld(), `a hand-written row with change_version ${version}`).toBe(true);
      } finally {
        await app.exec('ROLLBACK');
      }
    }
  });
});
