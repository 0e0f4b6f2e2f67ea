/**
 * Several statements in one round trip (DbClient.queryMany, PostgreSQL's simple query) on the
 * import's and the transport's path, and what makes each safe:
 * - every statement of the message (a simple query, or a pipeline of bound statements) takes its
 *   own snapshot (READ COMMITTED), so a read sent after the safe horizon's statement sees what
 *   committed before it began, as a second round trip would (readSafeHorizonWithBatch, a
 *   pipeline); a writer still holding an id is not read past, and
 *   a session that does not read committed gets no batch from it;
 * - an import batch's parked set, read in the message that takes the parking lock, is read
 *   after the lock is held: a `dsync retry` that held it and parked a row is seen (beginImportBatch).
 * Needs a PostgreSQL server: the embedded stand-in serves one session at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { insertRow } from '../../src/runtime/import/dml.ts';
import { beginImportBatch, lockParking } from '../../src/runtime/import/parking.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair, extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const server = live.includes('postgres') && (await postgresMode()) === 'server';
if (!server) console.warn('skipping postgres-one-message tests: they need concurrent sessions of a PostgreSQL server');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!server)('postgres: several statements in one round trip', () => {
  let pair: SyncPair;
  const sessions = extraSessions(() => pair.a.dialect.connect(pair.a.node.url, 'a'));
  const session = sessions.session;
  const select = (after: string, upTo: string) => `SELECT id FROM ds_change_outbox WHERE id > ${after} AND id <= ${upTo} ORDER BY id`;
  const order = (id: string) => ({ order_id: id, description: id, quantity: 1 });
  const outboxIds = async () =>
    (await pair.a.client.query<Row>('SELECT id FROM ds_change_outbox ORDER BY id')).rows.map((r) => Number(r.id));

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
  });
  afterAll(async () => {
    await sessions.closeAll();
    await pair?.close();
  });

  it('each statement of a message takes its own snapshot: a commit during the first is seen by the second', async () => {
    const [reader, writer] = [await session(), await session()];
    await reader.exec('CREATE TABLE IF NOT EXISTS snap (id int)');
    const message = reader.queryMany!(['SELECT pg_sleep(0.5)', 'SELECT count(*) AS n FROM snap']);
    await sleep(150);
    await writer.query('INSERT INTO snap VALUES (1)');
    const [, counted] = await message;
    expect(Number(counted.rows[0].n)).toBe(1);
  });

  it('so does each statement of a pipeline (the horizon and the first batch go as one)', async () => {
    const [reader, writer] = [await session(), await session()];
    await reader.exec('CREATE TABLE IF NOT EXISTS snap_pipelined (id int)');
    const message = reader.queryPipelined!([
      { sql: 'SELECT pg_sleep($1::float8)', params: [0.5] },
      { sql: 'SELECT count(*) AS n FROM snap_pipelined WHERE id = $1', params: [1] },
    ]);
    await sleep(150);
    await writer.query('INSERT INTO snap_pipelined VALUES (1)');
    const [, counted] = await message;
    expect(Number(counted.rows[0].n)).toBe(1);
  });

  it('the horizon and the first batch in one round trip: a writer holding an id is not read past', async () => {
    const dialect = pair.a.dialect;
    const read = (client: DbClient, pointer: number, batchSize = 50) =>
      dialect.readSafeHorizonWithBatch!(client, 'ds_change_outbox', select, pointer, batchSize);
    const before = (await outboxIds()).at(-1) ?? 0;
    const [late, early] = [await session(), await session()];
    await late.exec('BEGIN');
    await insertRow(late, pair.tables.a.sales_order, order('late'));
    await insertRow(early, pair.tables.a.sales_order, order('early'));
    const held = await read(pair.a.client, before);
    // A writer holds an id: no batch, and a horizon below its id (the fences decide).
    expect(held.rows).toBeNull();
    expect(held.horizon).toBeLessThanOrEqual(before);
    await late.exec('COMMIT');
    const all = await outboxIds();
    const free = await read(pair.a.client, before);
    expect(free.horizon).toBe(all.at(-1));
    expect(free.rows?.map((r) => Number(r.id))).toEqual(all.filter((id) => id > before));
    // The batch stops at pointer + batchSize, and at the pointer when it is past the horizon.
    expect((await read(pair.a.client, before, 1)).rows?.map((r) => Number(r.id))).toEqual([before + 1]);
    expect((await read(pair.a.client, free.horizon + 5)).rows).toEqual([]);
  });

  it('a session that does not read committed gets no batch (one snapshot would serve both statements)', async () => {
    const rr = await session();
    await rr.exec("SET default_transaction_isolation = 'repeatable read'");
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('rr'));
    const result = await pair.a.dialect.readSafeHorizonWithBatch!(rr, 'ds_change_outbox', select, 0, 50);
    expect(result.rows).toBeNull();
    expect(result.horizon).toBe(await pair.a.dialect.readSafeHorizon(pair.a.client, 'ds_change_outbox'));
  });

  it("an import batch's parked set is read once its lock is held, with capture silenced and a lazy commit", async () => {
    const b = pair.b.client;
    const pointer = Number((await b.query<Row>('SELECT last_pointer FROM ds_program_parameter WHERE id = 1001')).rows[0].last_pointer);
    // A `dsync retry` holds the parking lock and parks a row; the batch's message waits for the lock.
    const retry = await pair.b.dialect.connect(pair.b.node.url, 'b');
    sessions.open.push(retry);
    await retry.exec('BEGIN');
    await lockParking(retry, 1001);
    await retry.query(
      `INSERT INTO ds_change_error (program_id, inbox_id, origin_server_id, origin_change_id, object_table, object_key, status, reason, attempts, created_at, kind)
       VALUES (1001, 999999, 's', 1, 'sales_order', '["sales_order","k"]', 'open', 'test', 1, '2026-11-30 00:00:00', 'test')`,
    );
    const begun = b.transaction(async (tx) => {
      const result = await beginImportBatch(tx, 1001, { from: pointer, to: pointer }, { lazyCommit: true });
      const settings = await tx.query<Row>(
        "SELECT current_setting('dsync.capture') AS capture, current_setting('synchronous_commit') AS sc",
      );
      return { result, settings: settings.rows[0] };
    });
    await sleep(200);
    await retry.exec('COMMIT');
    const { result, settings } = await begun;
    expect(result.moved).toBe(true);
    expect(result.parked.blocked.get('["sales_order","k"]')).toBe(999999);
    if (result.silenced) expect(settings).toEqual({ capture: 'off', sc: 'off' });
    // Another import moved the pointer: nothing moves.
    await b.transaction(async (tx) => {
      expect((await beginImportBatch(tx, 1001, { from: pointer + 7, to: pointer + 8 }, {})).moved).toBe(false);
    });
    await b.query('DELETE FROM ds_change_error WHERE inbox_id = 999999');
  });
});
