/**
 * "Never lose a change, never get stuck", on real databases: a row's parked changes form
 * a chain behind one head that retry/skip releases whole, also while an import pass runs;
 * a change that cannot even be parked as it is still parks (bounded key, unparkable
 * fallback); transient failures (a lock timeout, a killed backend) retry the batch and
 * never park a good change, nor does a local writer that takes the key the import is about
 * to insert, while a key that stays taken parks; the inbox holds what a SQLite outbox can hold.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { DsyncError } from '../../src/core/errors.ts';
import { insertRow, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { resolveParkedChange } from '../../src/runtime/import/resolve-parked.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { runProgramOnce } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const order = (id: string, description = 'd') => ({
  order_id: id,
  order_type: 'wholesale',
  description,
  product_type_name: 'desktop',
  customer_id: 'c1',
  quantity: 1,
  order_date: '2025-05-25',
  update_datetime: '2025-06-25T10:30:00.000000',
  updated_by_user: 'mtp',
  updated_by_server: 'server1',
});

/** Each (origin server, origin change id) recorded at most once in a node's outbox: nothing applied twice. */
async function doubled(client: DbClient): Promise<Row[]> {
  const { rows } = await client.query<Row>(
    'SELECT updated_by_server_id, origin_change_id, count(*) AS n FROM ds_change_outbox WHERE origin_change_id IS NOT NULL GROUP BY updated_by_server_id, origin_change_id HAVING count(*) > 1',
  );
  return rows;
}

describe.skipIf(!live.includes('postgres'))('parking PostgreSQL → PostgreSQL', () => {
  let pair: SyncPair;
  /** A second connection to the target, as another session or another `dsync` process. */
  let other: NodeSet;
  const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
  const b = async () => (await pair.nodes.get('b')).client;
  const description = async (id: string) => (await selectRow(await b(), pair.tables.b.sales_order, { order_id: id }))?.description;
  const unresolved = async () => (await listParked(await b())).filter((p) => p.status === 'open' || p.status === 'waiting');

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
    other = new NodeSet(pair.config);
    // Target writes of a row fail while its id is in ds_test_block (a trigger of the application, say).
    await pair.b.client.exec(`
      CREATE TABLE ds_test_block (order_id text PRIMARY KEY, sleep_seconds double precision);
      CREATE FUNCTION ds_test_guard() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE s double precision;
      BEGIN
        SELECT sleep_seconds INTO s FROM ds_test_block WHERE order_id = NEW.order_id;
        IF FOUND AND s IS NULL THEN RAISE EXCEPTION 'rejected by the target''s trigger'; END IF;
        IF FOUND THEN PERFORM pg_sleep(s); END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER ds_test_guard BEFORE INSERT OR UPDATE ON sales_order FOR EACH ROW EXECUTE FUNCTION ds_test_guard();`);
  });
  afterAll(async () => {
    await other?.closeAll();
    await pair?.close();
  });

  const block = async (id: string, sleepSeconds: number | null = null) =>
    (await other.get('b')).client.query('INSERT INTO ds_test_block (order_id, sleep_seconds) VALUES ($1, $2)', [id, sleepSeconds]);
  const unblock = async (id: string) => (await other.get('b')).client.query('DELETE FROM ds_test_block WHERE order_id = $1', [id]);

  it('keeps the later changes of a stuck row in one chain behind its head; retry of the head releases them all in order', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('c1'));
    await pair.forward();
    await block('c1');
    for (const value of ['v1', 'v2', 'v3']) {
      await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'c1' }, { description: value });
      await pair.forward(); // one pass per change
    }
    const parked = await unresolved();
    expect(parked.map((p) => p.status)).toEqual(['open', 'waiting', 'waiting']);
    const [head, second, third] = parked;
    expect(head.kind).toBe('apply_failed:P0001');
    expect([second.blockedBy, third.blockedBy]).toEqual([head.inboxId, head.inboxId]);
    expect(third.kind).toBe('waiting');
    // Retry or skip of a waiting change names the head to resolve.
    const refused = await resolveParkedChange(pair.config, pair.b, third.id, 'retry').catch((e) => e);
    expect(refused).toBeInstanceOf(DsyncError);
    expect(refused).toMatchObject({ code: 'waiting' });
    expect(refused.message).toContain(`parked change ${head.id}`);
    expect(refused.hint).toContain(`dsync retry ${head.id}`);
    await expect(resolveParkedChange(pair.config, pair.b, head.id, 'retry')).rejects.toMatchObject({ code: 'retry_failed' });
    await unblock('c1');
    const result = await resolveParkedChange(pair.config, pair.b, head.id, 'retry');
    expect(result.released).toBe(2);
    expect(await description('c1')).toBe('v3');
    expect(await unresolved()).toEqual([]);
  });

  it('makes a released change that fails the new head, with the rest behind it', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('c2'));
    await pair.forward();
    await block('c2');
    for (const value of ['w1', 'w2', 'w3']) {
      await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'c2' }, { description: value });
      await pair.forward();
    }
    const [head, second, third] = await unresolved();
    // Skipping the head releases w2, which fails on its own: it heads the chain now, w3 behind it.
    const result = await resolveParkedChange(pair.config, pair.b, head.id, 'skip');
    expect(result.newlyParked).toBe(second.id);
    expect((await unresolved()).map((p) => [p.id, p.status, p.blockedBy])).toEqual([
      [second.id, 'open', null],
      [third.id, 'waiting', second.inboxId],
    ]);
    await unblock('c2');
    expect((await resolveParkedChange(pair.config, pair.b, second.id, 'retry')).released).toBe(1);
    expect(await description('c2')).toBe('w3');
    expect(await unresolved()).toEqual([]);
  });

  it('serializes retry with a running import pass: a change parked behind the head meanwhile is released too', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('r1'));
    await pair.forward();
    await block('r1');
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'r1' }, { description: 'x1' });
    await pair.forward();
    const [head] = await unresolved();
    await unblock('r1');
    // The next pass parks x2 behind the head and then sleeps in a slow write of another row.
    await block('slow', 1.5);
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'r1' }, { description: 'x2' });
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('slow'));
    await runProgramOnce(pair.config, pair.nodes, program(1000));
    const pass = runProgramOnce(pair.config, pair.nodes, program(1001));
    await sleep(400);
    const retry = resolveParkedChange(pair.config, await other.get('b'), head.id, 'retry');
    await Promise.all([pass, retry]);
    expect(await description('r1')).toBe('x2');
    expect(await unresolved()).toEqual([]);
    await unblock('slow');
  });

  it('parks a change whose key is too long for the index, and the changes after it flow', async () => {
    // Written by hand: a key no target column (nor PostgreSQL's btree, even compressed) can hold.
    const longKey = randomBytes(6000).toString('base64');
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_operation, object_operation_command, updated_by_server_id)
       VALUES ('a', 'sales_order', 'order_id', $1, 'I', $2, 'server-a')`,
      [longKey, `INSERT INTO sales_order(order_id, description) VALUES (~${longKey}~, ~x~)`],
    );
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('after-long'));
    await pair.forward();
    expect(await description('after-long')).toBe('d');
    const parked = await unresolved();
    expect(parked).toHaveLength(1);
    expect(parked[0].key!.length).toBeLessThanOrEqual(256);
    await resolveParkedChange(pair.config, pair.b, parked[0].id, 'skip');
  });

  it('retries a batch that meets a lock timeout, and applies it once the lock goes: nothing parked', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('l1'));
    await pair.forward();
    await (await b()).query("SET lock_timeout = '300ms'");
    const holder = (await other.get('b')).client;
    await holder.query('BEGIN');
    await holder.query("SELECT * FROM sales_order WHERE order_id = 'l1' FOR UPDATE");
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'l1' }, { description: 'after lock' });
    const pass = pair.forward();
    await sleep(1000);
    await holder.query('COMMIT');
    await pass;
    await (await b()).query('RESET lock_timeout');
    expect(await description('l1')).toBe('after lock');
    expect(await unresolved()).toEqual([]);
  });

  it('fails the pass cleanly when its backend is killed mid-batch; the next pass applies everything once', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('k1'));
    await pair.forward();
    await block('k1', 3);
    await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'k1' }, { description: 'k1 new' });
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('k2'));
    await runProgramOnce(pair.config, pair.nodes, program(1000));
    const { rows } = await (await b()).query<Row>('SELECT pg_backend_pid() AS pid');
    const pass = runProgramOnce(pair.config, pair.nodes, program(1001)).catch((e) => e);
    await sleep(700);
    await (await other.get('b')).client.query('SELECT pg_terminate_backend($1)', [rows[0].pid]);
    const failed = await pass;
    expect(failed).toBeInstanceOf(DsyncError);
    expect(failed).toMatchObject({ code: 'import_transient' });
    await unblock('k1');
    await pair.forward(); // a new connection
    expect(await description('k1')).toBe('k1 new');
    expect(await description('k2')).toBe('d');
    expect(await unresolved()).toEqual([]);
    expect(await doubled(await b())).toEqual([]);
  });
});

// PostgreSQL locks no absent key: between the import's read of a row it found absent and its
// insert, a local writer can insert the row, and the insert fails on the key. In trigger mode the
// writer's trigger then waits on the version entry the import holds; in modes keys and query the
// writer touches no store of the import's, so the slow path can be raced again, the same way.
// Neither may park the change: planned again on a fresh read, it meets the local row and merges
// with it (import.ts KEY_COLLISION_ATTEMPTS).
describe.skipIf(!live.includes('postgres'))('a local writer racing the import for a key, PostgreSQL in mode keys', () => {
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
  });

  it('never parks the change, raced in the batch and again in the slow path', async () => {
    pair = await createSyncPair('postgres', 'postgres', 'latest-wins', { keysTables: ['order_line'] });
    const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
    const connect = async (name: string) => (await getDialect('postgres')).connect(pair.a.node.url, name);
    const [locks, writer, holder] = [await connect('locks'), await connect('writer'), await connect('holder')];
    try {
      // The import's inserts into order_line wait, the first on advisory lock 4201 and the second
      // on 4202, while the test holds them; the test's own writers pass (dsync_test.writer).
      await locks.exec(`
        CREATE SEQUENCE ds_test_race;
        CREATE FUNCTION ds_test_race() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF current_setting('dsync_test.writer', true) IS DISTINCT FROM 'on' THEN
            PERFORM pg_advisory_xact_lock(4200 + nextval('ds_test_race'));
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER ds_test_race BEFORE INSERT ON order_line FOR EACH ROW EXECUTE FUNCTION ds_test_race();
        SELECT pg_advisory_lock(4201), pg_advisory_lock(4202);`);
      for (const w of [writer, holder]) await w.query("SET dsync_test.writer = 'on'");
      // Inserted a second time on node b (row_cl 3), whose clock runs an hour ahead: its insert
      // outweighs every write of the row on node a here (row_cl 1, each earlier).
      const key = { order_id: 'race', line_no: 1 };
      await insertRow(pair.b.client, pair.tables.b.order_line, { ...key, product: 'first', amount: '1.00' });
      await pair.b.client.query("DELETE FROM order_line WHERE order_id = 'race'");
      await insertRow(pair.b.client, pair.tables.b.order_line, { ...key, product: 'remote', amount: '1.00' });
      await runProgramOnce(pair.config, pair.nodes, program(1002));
      await pair.a.client.query('UPDATE ds_change_inbox SET change_version = change_version + 3600000000');
      const { rows } = await pair.a.client.query<Row>('SELECT pg_backend_pid() AS pid');
      const waits = async (lock: string) => {
        for (let i = 0; i < 400; i++) {
          const found = await locks.query<Row>(`SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted AND ${lock}`, [rows[0].pid]);
          if (found.rows.length > 0) return;
          await sleep(25);
        }
        throw new Error(`the import never waited on ${lock}`);
      };
      const insertLocal = (product: string) =>
        writer.query("INSERT INTO order_line (order_id, line_no, product, amount) VALUES ('race', 1, $1, 2)", [product]);
      const pass = runProgramOnce(pair.config, pair.nodes, program(1003));
      // The batch found the row absent and waits before its insert: the writer inserts it.
      await waits("locktype = 'advisory' AND objid = 4201");
      await insertLocal('local 1');
      await holder.query('BEGIN');
      await holder.query("SELECT * FROM order_line WHERE order_id = 'race' FOR UPDATE");
      await locks.query('SELECT pg_advisory_unlock(4201)');
      // The batch failed on the key; the slow path's read waits on the holder, which deletes the row.
      await waits("locktype = 'transactionid'");
      await holder.query("DELETE FROM order_line WHERE order_id = 'race'");
      await holder.query('COMMIT');
      // The slow path found the row absent again and waits before its insert: the writer inserts it again.
      await waits("locktype = 'advisory' AND objid = 4202");
      await insertLocal('local 2');
      await locks.query('SELECT pg_advisory_unlock(4202)');
      await pass;
      expect(await listParked(pair.a.client)).toEqual([]);
      const product = async (client: DbClient) => (await selectRow(client, pair.tables.a.order_line, key))?.product;
      expect(await product(pair.a.client)).toBe('remote');
      // The local writes reach node b and lose there too; nothing is applied twice.
      await pair.syncAll();
      expect([await product(pair.a.client), await product(pair.b.client)]).toEqual(['remote', 'remote']);
      for (const side of [pair.a.client, pair.b.client]) expect(await doubled(side)).toEqual([]);
    } finally {
      for (const c of [locks, writer, holder]) await c.close();
    }
  });
});

// The other side of planning a change again when its key is taken: a key that stays taken (here
// another unique key, held by a local row) parks the change after its attempts, on every brand,
// and the changes after it flow.
describe.each(live.filter(() => live.includes('sqlite')))('a key that stays taken, SQLite → %s', (to) => {
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
  });

  it('parks the change whose insert meets it, and applies the rest', async () => {
    pair = await createSyncPair('sqlite', to);
    await pair.b.client.exec('CREATE UNIQUE INDEX order_line_product ON order_line (product)');
    const line = (order_id: string, product: string) => ({ order_id, line_no: 1, product, amount: '1.00' });
    await insertRow(pair.b.client, pair.tables.b.order_line, line('held', 'same'));
    await insertRow(pair.a.client, pair.tables.a.order_line, line('taken', 'same'));
    await insertRow(pair.a.client, pair.tables.a.order_line, line('after', 'other'));
    await pair.forward();
    const parked = (await listParked(pair.b.client)).filter((p) => p.status === 'open');
    expect(parked.map((p) => p.reason)).toEqual([
      expect.stringMatching(/^insert of order_line \{"order_id":"taken","line_no":1\} failed: /),
    ]);
    expect(await selectRow(pair.b.client, pair.tables.b.order_line, { order_id: 'after', line_no: 1 })).toBeTruthy();
    expect(await selectRow(pair.b.client, pair.tables.b.order_line, { order_id: 'taken', line_no: 1 })).toBeNull();
  });
});

describe.skipIf(!live.includes('sqlite') || !live.includes('mysql'))('transport SQLite → MariaDB', () => {
  let pair: SyncPair;
  beforeAll(async () => {
    pair = await createSyncPair('sqlite', 'mysql');
  });
  afterAll(async () => pair?.close());

  it('carries a 500-character user id and a 100-character server id, dedupes a resend, and the rows after it flow', async () => {
    const user = 'u'.repeat(500);
    const server = `far-away-${'s'.repeat(91)}`;
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_operation, object_operation_command, updated_by_server_id, updated_by_user_id)
       VALUES ('a', 'sales_order', 'order_id', 'long-ids', 'I', ?, ?, ?)`,
      ['INSERT INTO sales_order(order_id, description) VALUES (~long-ids~, ~hand~)', server, user],
    );
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('after-ids'));
    await pair.forward();
    const rowOf = (id: string) => selectRow(pair.b.client, pair.tables.b.sales_order, { order_id: id });
    expect(await rowOf('long-ids')).toMatchObject({ description: 'hand' });
    expect(await rowOf('after-ids')).toMatchObject({ description: 'd' });
    const { rows } = await pair.b.client.query<Row>(
      "SELECT updated_by_user_id, updated_by_server_id FROM ds_change_inbox WHERE object_id = 'long-ids'",
    );
    expect(String(rows[0].updated_by_user_id)).toBe(user);
    expect(String(rows[0].updated_by_server_id).length).toBeLessThanOrEqual(64);
    const inbox = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox');
    await pair.a.client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
    await pair.forward();
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox')).toBe(inbox);
    expect(await listParked(pair.b.client)).toEqual([]);
  });
});
