/**
 * Issue 13: the SQLite capture of a send-only node (nodes.<n>.sendOnly) keeps no version
 * store. Two files with the fixture tables, one captured as a normal node and one as a
 * send-only node of the same name and server id, take the same seeded, random run of
 * statements (one and several rows, key changes, updates that change nothing, NULLs,
 * REPLACE, failing statements, some under the origin flag, some with capture silenced).
 * Every outbox row must be equal column by column except id, update_datetime and the three
 * version columns, which the send-only node leaves NULL; its ds_row_version stays empty.
 * The seed is printed; DSYNC_TEST_SEED=n replays it. The send-only triggers also run in
 * the sqlite3 command-line shell (Debian's SQLite 3.40).
 */
import { CHANGE_ROW_COLUMNS } from '../../src/core/change.ts';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../src/config/config.ts';
import type { DbClient, OriginFlag, Row } from '../../src/core/dialect.ts';
import { setOrigin, sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import type { GeneratedFile } from '../../src/generate/generate.ts';
import { createTestDatabase, REQUIRE_SERVERS, type TestDatabase } from '../helpers/databases.ts';
import { FIXTURES } from '../helpers/fixtures.ts';
import { setUpFixtureNode } from '../helpers/sync-node.ts';
import { oddText, random } from '../helpers/random.ts';

const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
const STEPS = 400;
/** The outbox columns both nodes must write alike: what transport copies but the time and the versions, and the two the reader adds. */
const SAME = [
  ...CHANGE_ROW_COLUMNS.filter((c) => !['update_datetime', 'row_cl', 'row_cl_old', 'change_version'].includes(c)),
  'origin_change_id',
  'txn_id',
];

interface Node {
  db: TestDatabase;
  client: DbClient;
  files: GeneratedFile[];
  close(): Promise<void>;
}

/** A one-node config like the fixtures' (no program into the node), the node send-only or not. */
async function createNode(sendOnly: boolean): Promise<Node> {
  const db = await createTestDatabase('sqlite', sendOnly ? 'dsync_send_only' : 'dsync_normal');
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-gen-'));
  const config: Config = parseConfig(
    {
      nodes: { lite: { dialect: 'sqlite', url: db.url, serverId: 'lite-1', ...(sendOnly ? { sendOnly: true } : {}) } },
      tables: ['sales_order', 'order_line', 'type_zoo', { name: 'Odd Names', conflict: 'source-wins' }],
      programs: [],
      generatedDir,
    },
    FIXTURES,
    null,
  );
  const node = config.nodes.lite;
  const client = await sqliteDialect.connect(node.url, node.name);
  const { files } = await setUpFixtureNode(config, node, sqliteDialect, client, generatedDir);
  return {
    db,
    client,
    files,
    async close() {
      await client.close().catch(() => undefined);
      await db.drop();
      rmSync(generatedDir, { recursive: true, force: true });
    },
  };
}

interface Op {
  sql: string;
  params: unknown[];
  /** Run inside a transaction that sets the origin flag, or silences capture. */
  origin?: OriginFlag;
  silenced?: boolean;
}

/** The seeded run: statements with parameters over three fixture tables. */
function plan(seed: number, count: number): Op[] {
  const next = random(seed);
  const int = (n: number) => Math.floor(next() * n);
  const maybe = <T>(value: T, nullShare = 0.2): T | null => (next() < nullShare ? null : value);
  const orderKey = () => `o${int(12)}${next() < 0.05 ? ' ' : ''}`;
  const orderValues = () => [orderKey(), maybe('std'), maybe(oddText(next, 8)), maybe('p'), maybe(`c${int(5)}`), maybe(int(50))];
  const lineValues = () => [`o${int(4)}`, int(6), oddText(next, 5), maybe([int(1000), int(100000) / 100, '12.5', '7'][int(4)])];
  const zooValues = () => [
    int(15),
    maybe(int(1000) - 500),
    maybe([0.1, -2.5, 1e21, 3][int(4)]),
    maybe(Buffer.from([int(256), int(256), 0])),
    maybe(JSON.stringify({ a: int(9) })),
    maybe(['2025-01-02', '1999-12-31'][int(2)]),
  ];
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) {
    const r = next();
    const table = int(3);
    let op: Op;
    if (table === 0) {
      const cols = '(order_id, order_type, description, product_type_name, customer_id, quantity)';
      if (r < 0.25) op = { sql: `INSERT INTO sales_order ${cols} VALUES (?, ?, ?, ?, ?, ?)`, params: orderValues() };
      else if (r < 0.35)
        op = {
          sql: `INSERT OR IGNORE INTO sales_order ${cols} VALUES (?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?)`,
          params: [...orderValues(), ...orderValues()],
        };
      else if (r < 0.4) op = { sql: `REPLACE INTO sales_order ${cols} VALUES (?, ?, ?, ?, ?, ?)`, params: orderValues() };
      else if (r < 0.55) {
        const column = ['quantity', 'description', 'order_type', 'customer_id'][int(4)];
        const value = column === 'quantity' ? maybe(int(50)) : maybe(next() < 0.3 ? 'std' : oddText(next, 4));
        op = { sql: `UPDATE sales_order SET ${column} = ? WHERE order_id = ?`, params: [value, orderKey()] };
      } else if (r < 0.62)
        op = { sql: 'UPDATE sales_order SET quantity = quantity, description = description WHERE order_id < ?', params: [orderKey()] };
      else if (r < 0.7)
        op = {
          sql: 'UPDATE sales_order SET quantity = coalesce(quantity, 0) + 1, customer_id = NULL WHERE order_id > ?',
          params: [orderKey()],
        };
      else if (r < 0.8) op = { sql: 'UPDATE OR IGNORE sales_order SET order_id = ? WHERE order_id = ?', params: [orderKey(), orderKey()] };
      else if (r < 0.85) op = { sql: "UPDATE sales_order SET order_id = order_id || 'x' WHERE quantity > ?", params: [int(50)] };
      else if (r < 0.95) op = { sql: 'DELETE FROM sales_order WHERE order_id = ?', params: [orderKey()] };
      else op = { sql: 'DELETE FROM sales_order WHERE quantity < ? OR quantity IS NULL', params: [int(20)] };
    } else if (table === 1) {
      if (r < 0.3) op = { sql: 'INSERT OR IGNORE INTO order_line VALUES (?, ?, ?, ?)', params: lineValues() };
      else if (r < 0.4)
        op = { sql: 'INSERT INTO order_line VALUES (?, ?, ?, ?), (?, ?, ?, ?)', params: [...lineValues(), ...lineValues()] };
      else if (r < 0.55)
        op = {
          sql: 'UPDATE order_line SET amount = ?, product = ? WHERE order_id = ?',
          params: [lineValues()[3], oddText(next, 3), `o${int(4)}`],
        };
      else if (r < 0.65) op = { sql: 'UPDATE order_line SET line_no = line_no + ? WHERE order_id = ?', params: [int(3) + 1, `o${int(4)}`] };
      else if (r < 0.72)
        op = { sql: 'UPDATE order_line SET order_id = ? WHERE order_id = ? AND line_no = ?', params: [`o${int(4)}`, `o${int(4)}`, int(6)] };
      else if (r < 0.8) op = { sql: 'UPDATE order_line SET amount = amount WHERE line_no < ?', params: [int(6)] };
      else if (r < 0.9) op = { sql: 'DELETE FROM order_line WHERE order_id = ? AND line_no = ?', params: [`o${int(4)}`, int(6)] };
      else op = { sql: 'DELETE FROM order_line WHERE line_no > ?', params: [int(8)] };
    } else {
      const cols = '(id, c_int, c_float, c_bytea, c_json, c_date)';
      if (r < 0.35) op = { sql: `INSERT OR REPLACE INTO type_zoo ${cols} VALUES (?, ?, ?, ?, ?, ?)`, params: zooValues() };
      else if (r < 0.6) {
        const [, a, b, c, d, e] = zooValues();
        op = {
          sql: 'UPDATE type_zoo SET c_int = ?, c_float = ?, c_bytea = ?, c_json = ?, c_date = ? WHERE id = ?',
          params: [a, b, c, d, e, int(15)],
        };
      } else if (r < 0.75) op = { sql: 'UPDATE OR IGNORE type_zoo SET id = id + ? WHERE id > ?', params: [int(5) + 1, int(15)] };
      else if (r < 0.85) op = { sql: 'UPDATE type_zoo SET c_bytea = c_bytea WHERE id = ?', params: [int(15)] };
      else op = { sql: 'DELETE FROM type_zoo WHERE id = ?', params: [int(15)] };
    }
    const mode = next();
    if (mode < 0.15)
      op.origin = {
        serverId: `srv${int(3)}`,
        changeId: int(1e6),
        userId: maybe(oddText(next, 5)),
        updatedAt: maybe('2025-01-02T03:04:05.000006Z'),
      };
    else if (mode < 0.22) op.silenced = true;
    ops.push(op);
  }
  return ops;
}

/** Runs `op`; a failing statement (a key conflict) is part of the run: its message is returned. */
async function runOp(client: DbClient, op: Op): Promise<string | null> {
  try {
    if (op.origin || op.silenced) {
      await client.transaction(async (tx) => {
        if (op.origin) await setOrigin(tx, op.origin);
        if (op.silenced) await sqliteDialect.silenceCapture(tx, true);
        await tx.query(op.sql, op.params);
      });
    } else await client.query(op.sql, op.params);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

const outbox = async (client: DbClient) => (await client.query<Row>('SELECT * FROM ds_change_outbox ORDER BY id')).rows;
const count = async (client: DbClient, sql: string) => Number(Object.values((await client.query<Row>(sql)).rows[0])[0]);

describe('sqlite capture on a send-only node', () => {
  let normal: Node;
  let sendOnly: Node;

  beforeAll(async () => {
    normal = await createNode(false);
    sendOnly = await createNode(true);
  });
  afterAll(async () => {
    await normal?.close();
    await sendOnly?.close();
  });

  it('generates triggers that never name ds_row_version', () => {
    const captures = (node: Node) => node.files.filter((f) => f.object.startsWith('capture'));
    expect(captures(sendOnly)).toHaveLength(4);
    for (const file of captures(sendOnly)) expect(file.content, file.fileName).not.toContain('ds_row_version');
    for (const file of captures(normal)) expect(file.content, file.fileName).toContain('ds_row_version');
  });

  it(`writes the normal node's outbox rows without versions (seed ${SEED})`, async () => {
    console.log(`sqlite-send-only-capture seed ${SEED} (DSYNC_TEST_SEED=${SEED} replays it)`);
    const ops = plan(SEED, STEPS);
    const failures: Array<string | null> = [];
    for (const [i, op] of ops.entries()) {
      const a = await runOp(normal.client, op);
      const b = await runOp(sendOnly.client, op);
      expect(b, `seed ${SEED}, step ${i}: ${op.sql}`).toBe(a);
      failures.push(a);
    }
    const [want, got] = [await outbox(normal.client), await outbox(sendOnly.client)];
    const pick = (rows: Row[]) => rows.map((r) => Object.fromEntries(SAME.map((c) => [c, r[c]])));
    expect(pick(got), `seed ${SEED}`).toEqual(pick(want));
    // Under an origin flag that carries a time, the row's time is that one, on both.
    const originTimes = (rows: Row[]) => rows.map((r) => (String(r.update_datetime).startsWith('2025-') ? r.update_datetime : null));
    expect(originTimes(got), `seed ${SEED}`).toEqual(originTimes(want));
    for (const row of got) expect([row.row_cl, row.row_cl_old, row.change_version], `seed ${SEED}`).toEqual([null, null, null]);
    for (const row of want) expect(row.row_cl, `seed ${SEED}: the normal node versions every row`).not.toBeNull();
    expect(await count(sendOnly.client, 'SELECT count(*) FROM ds_row_version'), `seed ${SEED}`).toBe(0);
    expect(await count(normal.client, 'SELECT count(*) FROM ds_row_version')).toBeGreaterThan(0);
    // The run covers what it claims to.
    const kinds = new Set(want.map((r) => `${r.object_operation}${r.object_id_old === null ? '' : 'k'}`));
    expect([...kinds].sort(), `seed ${SEED}`).toEqual(['D', 'I', 'U', 'Uk']);
    expect(want.some((r) => r.origin_change_id !== null)).toBe(true);
    expect(failures.some((f) => f !== null)).toBe(true);
    for (const table of ['sales_order', 'order_line', 'type_zoo']) {
      const rows = async (node: Node) => (await node.client.query<Row>(`SELECT * FROM ${table} ORDER BY 1, 2`)).rows;
      expect(await rows(sendOnly), `seed ${SEED}`).toEqual(await rows(normal));
    }
  });
});

/** The send-only triggers load and run in an older SQLite (the README's floor is 3.35). */
describe('sqlite send-only capture in the sqlite3 command-line shell', () => {
  const probe = spawnSync('sqlite3', ['--version'], { encoding: 'utf8' });
  const missing = probe.error ? 'the sqlite3 command-line shell is not installed (apt-get install -y sqlite3)' : null;
  if (missing && !REQUIRE_SERVERS) console.warn(`skipping the sqlite3 shell suite: ${missing}`);
  let normal: Node;
  let sendOnly: Node;

  beforeAll(async () => {
    if (missing) return;
    normal = await createNode(false);
    sendOnly = await createNode(true);
  });
  afterAll(async () => {
    await normal?.close();
    await sendOnly?.close();
  });

  it.skipIf(missing !== null && !REQUIRE_SERVERS)('writes the rows the normal triggers write, without versions', async () => {
    if (missing) throw new Error(`DSYNC_REQUIRE_SERVERS is set and ${missing}`);
    const script = `
      INSERT INTO sales_order (order_id, quantity, description) VALUES ('cli1', 1, 'x'), ('cli2', 2, 'it''s');
      UPDATE sales_order SET quantity = quantity + 1, description = NULL WHERE order_id LIKE 'cli%';
      UPDATE sales_order SET quantity = quantity;
      UPDATE sales_order SET order_id = 'cli3' WHERE order_id = 'cli1';
      DELETE FROM sales_order WHERE order_id = 'cli2';
      INSERT INTO order_line VALUES ('o"1', 7, 'p', 10.5), ('o"1', 8, 'q', NULL);
      UPDATE order_line SET line_no = line_no + 10;
      INSERT INTO type_zoo (id, c_bytea, c_json) VALUES (1, x'00ff10', '{"a":1}');
      UPDATE type_zoo SET c_bytea = x'01' WHERE id = 1;
    `;
    for (const node of [normal, sendOnly]) {
      const run = spawnSync('sqlite3', ['-bail', node.db.url], { input: script, encoding: 'utf8' });
      expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
    }
    const [want, got] = [await outbox(normal.client), await outbox(sendOnly.client)];
    expect(want).toHaveLength(12);
    const pick = (rows: Row[]) => rows.map((r) => Object.fromEntries(SAME.map((c) => [c, r[c]])));
    expect(pick(got)).toEqual(pick(want));
    for (const row of got) expect([row.row_cl, row.row_cl_old, row.change_version]).toEqual([null, null, null]);
    expect(await count(sendOnly.client, 'SELECT count(*) FROM ds_row_version')).toBe(0);
  });
});
