/**
 * The MySQL/MariaDB capture triggers of this tree against those generated at c354bd2
 * (test/fixtures/mysql-capture-c354bd2/), which wrote the same rows with more steps per row:
 * one seeded, random run of inserts, updates (some columns, none, the key, several rows in
 * one statement) and deletes over the type zoo, sales_order and `Odd Names`, some under the
 * origin flag, is written once with each set of triggers at the same session timestamps,
 * and every outbox row and version entry must be equal, text for text. The seed is printed;
 * `SEED=n` replays it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { liveDialects } from '../helpers/databases.ts';
import { ZOO_COLUMNS, zooValue } from '../helpers/mysql-zoo.ts';
import { oddText, random } from '../helpers/random.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';

const live = await liveDialects();
const BEFORE = join(import.meta.dirname, '..', 'fixtures', 'mysql-capture-c354bd2');
const TABLES = ['type_zoo', 'sales_order', 'order_line', 'Odd Names'];

interface Op {
  sql: string;
  params: unknown[];
  origin: { server: string | null; changeId: number | null; user: string | null; time: string | null } | null;
  /** Seconds since 1970 for SET timestamp (the triggers' UTC_TIMESTAMP and the outbox default). */
  at: number;
}

/** The seeded run: SQL with parameters, as an application would write it. */
function plan(seed: number, count: number): Op[] {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const zoo = new Set<number>();
  const orders = new Set<number>();
  const odd = new Set<number>();
  const ops: Op[] = [];
  const pick = (keys: Set<number>) => [...keys][int(keys.size)];
  let at = 1_767_225_600;
  for (let i = 0; i < count; i++) {
    // Often the same microsecond as the last statement: the version store's max_version + 1 path.
    if (next() < 0.6) at += int(3_000_000) / 1e6;
    // The origin flag's variables, each set or not (the triggers take a local writer's path
    // only when server, time and change id are all unset).
    const origin =
      next() < 0.25
        ? {
            server: next() < 0.7 ? `srv${int(3)}` : null,
            changeId: next() < 0.6 ? int(1e6) : null,
            user: next() < 0.6 ? oddText(next, 8) : null,
            time: next() < 0.6 ? '2025-01-02 03:04:05.000006' : null,
          }
        : null;
    const op = (sql: string, params: unknown[]) => ops.push({ sql, params, origin, at });
    const table = int(3);
    const r = next();
    if (table === 0) {
      if (r < 0.35 || zoo.size === 0) {
        let id = int(60);
        while (zoo.has(id)) id = int(1000);
        zoo.add(id);
        op(`INSERT INTO type_zoo (id, ${ZOO_COLUMNS.join(', ')}) VALUES (?${', ?'.repeat(ZOO_COLUMNS.length)})`, [
          id,
          ...ZOO_COLUMNS.map((c) => zooValue(next, c)),
        ]);
      } else if (r < 0.75) {
        const id = pick(zoo);
        const columns = ZOO_COLUMNS.filter(() => next() < 0.25);
        const sets = columns.map((c) => `${c} = ?`);
        const params: unknown[] = columns.map((c) => zooValue(next, c));
        if (next() < 0.15) {
          let to = int(1000);
          while (zoo.has(to)) to = int(1000);
          zoo.delete(id);
          zoo.add(to);
          sets.push('id = ?');
          params.push(to);
        }
        // No column at all: an update that changes nothing.
        op(`UPDATE type_zoo SET ${sets.length ? sets.join(', ') : 'id = id'} WHERE id = ?`, [...params, id]);
      } else if (r < 0.85) {
        op('UPDATE type_zoo SET c_int = COALESCE(c_int, 0) + 1, c_varchar = CONCAT(COALESCE(c_varchar, ?), ?) WHERE id < ?', [
          'n',
          oddText(next, 3),
          int(500),
        ]);
      } else {
        const id = pick(zoo);
        zoo.delete(id);
        op('DELETE FROM type_zoo WHERE id = ?', [id]);
      }
    } else if (table === 1) {
      const key = (n: number) => `o${n}${next() < 0.1 ? ' ' : ''}`;
      if (r < 0.4 || orders.size === 0) {
        let n = int(100);
        while (orders.has(n)) n = int(1000);
        orders.add(n);
        op(
          'INSERT INTO sales_order (order_id, order_type, description, product_type_name, customer_id, quantity, order_date, update_datetime, updated_by_user, updated_by_server) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
          [`o${n}`, 'std', oddText(next, 10), 'p', `c${int(9)}`, int(100), '2025-01-01', '2025-01-01 00:00:01.5', 'u', 's'],
        );
      } else if (r < 0.8) {
        const n = pick(orders);
        const column = ['quantity', 'description', 'order_type', 'order_date'][int(4)];
        const value = column === 'quantity' ? int(1000) : column === 'order_date' ? '2025-02-03' : next() < 0.5 ? 'STD' : oddText(next, 6);
        op(`UPDATE sales_order SET ${column} = ? WHERE order_id = ?`, [value, key(n)]);
      } else {
        const n = pick(orders);
        orders.delete(n);
        op('DELETE FROM sales_order WHERE order_id = ?', [`o${n}`]);
      }
    } else {
      if (r < 0.4 || odd.size === 0) {
        let n = int(50);
        while (odd.has(n)) n = int(1000);
        odd.add(n);
        op("INSERT INTO `Odd Names` (`Key Col`, `select`, `it's`, `back``tick`) VALUES (?, ?, ?, ?)", [
          n,
          oddText(next, 6),
          oddText(next, 6),
          null,
        ]);
      } else if (r < 0.8) {
        op('UPDATE `Odd Names` SET `select` = ?, `tilde~col` = ? WHERE `Key Col` = ?', [oddText(next, 4), oddText(next, 4), pick(odd)]);
      } else {
        const n = pick(odd);
        odd.delete(n);
        op('DELETE FROM `Odd Names` WHERE `Key Col` = ?', [n]);
      }
    }
  }
  return ops;
}

async function runScript(client: DbClient, script: string): Promise<void> {
  for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
}

/** Every outbox row (without its id) and version entry written by `ops` under the triggers of `scripts`. */
async function capture(client: DbClient, scripts: string[], ops: Op[]): Promise<{ outbox: Row[]; entries: Row[] }> {
  for (const script of scripts) await runScript(client, script);
  await client.exec("SET @dsync_capture = 'off'");
  for (const t of TABLES) await client.exec(`DELETE FROM ${client.dialect.sql.ident(t)}`);
  await client.exec('SET @dsync_capture = NULL');
  await client.exec('DELETE FROM ds_row_version');
  await client.exec('DELETE FROM ds_change_outbox');
  for (const op of ops) {
    await client.exec(`SET timestamp = ${op.at.toFixed(6)}`);
    const o = op.origin;
    if (o)
      await client.query('SET @dsync_origin_server = ?, @dsync_origin_change_id = ?, @dsync_origin_user = ?, @dsync_origin_time = ?', [
        o.server,
        o.changeId,
        o.user,
        o.time,
      ]);
    await client.query(op.sql, op.params);
    if (o)
      await client.exec(
        'SET @dsync_origin_server = NULL, @dsync_origin_change_id = NULL, @dsync_origin_user = NULL, @dsync_origin_time = NULL',
      );
  }
  await client.exec('SET timestamp = DEFAULT');
  const outbox = (await client.query<Row>('SELECT * FROM ds_change_outbox ORDER BY id')).rows.map(({ id, ...rest }) => rest);
  const entries = (await client.query<Row>('SELECT * FROM ds_row_version ORDER BY table_name, row_key')).rows;
  return { outbox, entries };
}

describe.skipIf(!live.includes('mysql'))('mysql capture triggers against those of c354bd2', () => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode('mysql');
  });
  afterAll(async () => {
    await node?.close();
  });

  it('write the same outbox rows and version entries for a seeded random run', async () => {
    const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`mysql-capture-equivalence seed ${seed}`);
    const ops = plan(seed, 400);
    const captureFiles = (dir: string) =>
      readdirSync(dir)
        .filter((f) => /^01\d\d_capture_.*\.sql$/.test(f))
        .sort()
        .map((f) => readFileSync(join(dir, f), 'utf8'));
    const before = captureFiles(BEFORE);
    const now = captureFiles(join(node.generatedDir, node.config.nodes.mysql.name));
    expect(before).toHaveLength(4);
    expect(now).toHaveLength(4);
    expect(now).not.toEqual(before);
    const old = await capture(node.client, before, ops);
    const fresh = await capture(node.client, now, ops);
    expect(old.outbox.length).toBeGreaterThan(200);
    expect(old.outbox.some((r) => r.updated_by_server_id !== 'fixture-my')).toBe(true);
    expect(old.outbox.some((r) => r.object_id_old !== null)).toBe(true);
    expect(fresh.outbox).toEqual(old.outbox);
    expect(fresh.entries).toEqual(old.entries);
  });
});
