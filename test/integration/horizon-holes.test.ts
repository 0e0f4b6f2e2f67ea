/**
 * Holes in the safe horizon (DESIGN rule 1) that a reader used to fall into silently:
 * - MariaDB: a prepared XA transaction whose client left has no thread any more, and the
 *   fence took its leaving for its end; its change was skipped.
 * - PostgreSQL: a sequence with CACHE > 1 hands out ids out of order; refused now.
 * - Every brand: a pointer above the table's id counter (TRUNCATE, a reset counter)
 *   skipped every new change; status reports it, a pass stops with `pointer_ahead`.
 * Other test files share the MariaDB server and can hold its fence for a while: waits
 * are "until, with a deadline", never fixed sleeps that assert timing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { ApplyError, DsyncError, RuntimeError } from '../../src/core/errors.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { checkPointer, findPointerAhead, readProgramState } from '../../src/runtime/program-state.ts';
import { readStatus } from '../../src/runtime/status.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair, extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const mysql = live.includes('mysql');
const pgServer = live.includes('postgres') && (await postgresMode()) === 'server';
const target: DialectName = live.includes('sqlite') ? 'sqlite' : 'postgres';

/** Polls `read` until `done` holds of its value or the deadline passes; returns the last value. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

const codeOf = (e: unknown) => (e instanceof DsyncError ? e.code : String(e));

async function maxOutboxId(client: DbClient): Promise<number> {
  const { rows } = await client.query<Row>('SELECT coalesce(max(id), 0) AS id FROM ds_change_outbox');
  return Number(rows[0].id);
}

async function targetIds(pair: SyncPair): Promise<unknown[]> {
  return (await selectAllRows(pair.b.client, pair.tables.b.sales_order)).map((r) => r.order_id);
}

describe.skipIf(!mysql)('mysql: a prepared XA transaction whose client left', () => {
  let pair: SyncPair;
  const sessions = extraSessions(() => pair.a.dialect.connect(pair.a.node.url, 'a'));
  const xids: string[] = [];
  const session = sessions.session;
  const horizon = () => pair.a.dialect.readSafeHorizon(pair.a.client, 'ds_change_outbox');
  const insert = (s: DbClient, id: string) =>
    s.query('INSERT INTO sales_order (order_id, description, quantity) VALUES (?, ?, 1)', [id, id]);

  /**
   * Session A: XA START, a captured insert, XA END, XA PREPARE, a horizon read while A's
   * client is there, then the client leaves. Returns A's outbox id.
   */
  async function preparedAndLeft(orderId: string): Promise<{ xid: string; id: number }> {
    const xid = `dsync_horizon_${randomBytes(6).toString('hex')}`;
    xids.push(xid);
    const a = await session();
    await a.exec(`XA START '${xid}'`);
    await insert(a, orderId);
    const id = await maxOutboxId(a);
    await a.exec(`XA END '${xid}'`);
    await a.exec(`XA PREPARE '${xid}'`);
    // A fence taken while A's client is still there lists A by its thread.
    expect(await horizon()).toBeLessThan(id);
    await a.close();
    return { xid, id };
  }

  beforeAll(async () => {
    pair = await createSyncPair('mysql', target);
  });
  afterAll(async () => {
    // A prepared XA transaction outlives every connection: never leave one on the shared server.
    const c = await pair.a.dialect.connect(pair.a.node.url, 'a');
    for (const xid of xids) await c.exec(`XA ROLLBACK '${xid}'`).catch(() => undefined);
    await c.close();
    await sessions.closeAll();
    await pair?.close();
  });

  it('holds the horizon below it until XA COMMIT from another session, then delivers both', async () => {
    await pair.forward();
    const { xid, id } = await preparedAndLeft('xa1');
    const b = await session();
    await insert(b, 'after-xa1'); // autocommit
    const after = await maxOutboxId(pair.a.client);
    expect(after).toBeGreaterThan(id);
    // The client of A is gone; before the fix the fence took that for A's end and passed.
    // Several fresh reads, spaced by INNODB_TRX's refresh, must all stay below A's id.
    for (let i = 0; i < 8; i++) {
      expect(await horizon()).toBeLessThan(id);
      await new Promise((r) => setTimeout(r, 150));
    }
    await pair.forwardOnce();
    expect(await targetIds(pair)).not.toContain('after-xa1');

    const other = await session();
    await other.exec(`XA COMMIT '${xid}'`);
    const ids = await until(
      async () => {
        await pair.forwardOnce();
        return targetIds(pair);
      },
      (v) => v.includes('xa1') && v.includes('after-xa1'),
    );
    expect(ids).toEqual(expect.arrayContaining(['xa1', 'after-xa1']));
  });

  it('is not stuck forever on one that is rolled back', async () => {
    const { xid, id } = await preparedAndLeft('xa2');
    const b = await session();
    await insert(b, 'after-xa2');
    for (let i = 0; i < 4; i++) {
      expect(await horizon()).toBeLessThan(id);
      await new Promise((r) => setTimeout(r, 150));
    }
    const other = await session();
    await other.exec(`XA ROLLBACK '${xid}'`);
    const ids = await until(
      async () => {
        await pair.forwardOnce();
        return targetIds(pair);
      },
      (v) => v.includes('after-xa2'),
    );
    expect(ids).toContain('after-xa2');
    expect(ids).not.toContain('xa2');
  });
});

describe.skipIf(!pgServer)('postgres: an id sequence with CACHE > 1', () => {
  let pair: SyncPair;
  const sessions = extraSessions(() => pair.a.dialect.connect(pair.a.node.url, 'a'));
  const session = sessions.session;
  const insertOutbox = async (s: DbClient, note: string) => {
    const { rows } = await s.query<Row>(
      "INSERT INTO ds_change_outbox (object_table, object_operation, note1) VALUES ('sales_order', 'I', $1) RETURNING id",
      [note],
    );
    return Number(rows[0].id);
  };

  beforeAll(async () => {
    pair = await createSyncPair('postgres', target);
  });
  afterAll(async () => {
    await sessions.closeAll();
    await pair?.close();
  });

  it('hands out ids below ones already readable, so the reader and apply refuse it', async () => {
    await pair.a.client.exec('ALTER SEQUENCE ds_change_outbox_id_seq CACHE 20');
    const [s1, s2] = [await session(), await session()];
    const first = await insertOutbox(s1, 'first'); // s1 caches 20 ids
    const second = await insertOutbox(s2, 'second'); // s2 the next 20
    // What a reader that trusted the sequence would have done: every id up to its last
    // value looked final, with no writer holding the table.
    const { rows } = await pair.a.client.query<Row>('SELECT last_value FROM ds_change_outbox_id_seq');
    const wouldRead = Number(rows[0].last_value);
    expect(wouldRead).toBeGreaterThanOrEqual(second);
    const late = await insertOutbox(s1, 'late'); // committed after `second`, with a lower id
    expect(late).toBeLessThan(second);
    expect(late).toBeGreaterThan(first);
    expect(late).toBeLessThanOrEqual(wouldRead); // a pointer moved to wouldRead skips it

    const refused = await pair.a.dialect.readSafeHorizon(pair.a.client, 'ds_change_outbox').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RuntimeError);
    expect(codeOf(refused)).toBe('sequence_cached');
    expect((refused as RuntimeError).hint).toMatch(/ALTER SEQUENCE "?ds_change_outbox_id_seq"? CACHE 1/);
    expect(codeOf(await pair.forwardOnce().catch((e: unknown) => e))).toBe('sequence_cached');

    const node = pair.config.nodes.a;
    const applied = await applyNode(pair.config, node, pair.a.dialect, pair.a.client).catch((e: unknown) => e);
    expect(applied).toBeInstanceOf(ApplyError);
    expect(codeOf(applied)).toBe('sequence_cached');

    await pair.a.client.exec('ALTER SEQUENCE ds_change_outbox_id_seq CACHE 1');
    for (const s of sessions.open.splice(0)) await s.close(); // they hand out their cached ids until they reconnect
    await applyNode(pair.config, node, pair.a.dialect, pair.a.client);
    await pair.forward();
    const { rows: inbox } = await pair.b.client.query<Row>('SELECT note1 FROM ds_change_inbox ORDER BY origin_change_id');
    expect(inbox.map((r) => r.note1)).toEqual(expect.arrayContaining(['first', 'second', 'late']));
  });

  it('refuses a cached inbox sequence as well', async () => {
    await pair.a.client.exec('ALTER SEQUENCE ds_change_inbox_id_seq CACHE 5');
    try {
      expect(codeOf(await pair.a.dialect.readSafeHorizon(pair.a.client, 'ds_change_inbox').catch((e: unknown) => e))).toBe(
        'sequence_cached',
      );
      expect(codeOf(await pair.a.dialect.checkIdCounters!(pair.a.client).catch((e: unknown) => e))).toBe('sequence_cached');
    } finally {
      await pair.a.client.exec('ALTER SEQUENCE ds_change_inbox_id_seq CACHE 1');
    }
  });
});

/** Empties the table and sends its id counter back to the start, as TRUNCATE does. */
const RESET: Partial<Record<DialectName, (table: string) => string[]>> = {
  postgres: (t) => [`TRUNCATE ${t} RESTART IDENTITY`],
  mysql: (t) => [`TRUNCATE TABLE ${t}`],
  sqlite: (t) => [`DELETE FROM ${t}`, `DELETE FROM sqlite_sequence WHERE name = '${t}'`],
};

/** The statements of the fix's first case (rows written since the reset), as the hint spells them. */
function renumberStatements(fix: string): string[] {
  const renumber = /came after the reset \(TRUNCATE\): (.*); if they were all read before/.exec(fix)?.[1];
  expect(renumber).toBeDefined();
  return renumber!.split('; ');
}

const POINTER_SOURCES = (['postgres', 'sqlite', 'mysql'] as const).filter((d) => live.includes(d) && (d !== 'postgres' || pgServer));

describe.each(POINTER_SOURCES)('%s: a pointer above the id counter', (source) => {
  let pair: SyncPair;
  const transport = () => pair.config.programs.find((p) => p.id === 1000)!;
  const insert = (id: string) =>
    pair.a.client.query(
      `INSERT INTO sales_order (order_id, description, quantity) VALUES (${[1, 2, 3].map(pair.a.dialect.sql.param).join(', ')})`,
      [id, id, 1],
    );

  beforeAll(async () => {
    pair = await createSyncPair(source, target);
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('is reported by status and stops the pass, and the fix it names delivers the new changes', async () => {
    for (const id of ['p1', 'p2', 'p3']) await insert(id);
    await until(
      async () => {
        await pair.forward();
        return targetIds(pair);
      },
      (v) => v.length === 3,
    );
    const pointer = (await readProgramState(pair.a.client, transport(), 'a')).pointer;
    expect(pointer).toBeGreaterThanOrEqual(3);
    expect((await readStatus(pair.config, pair.nodes)).programs.find((p) => p.id === 1000)?.pointerAhead).toBeUndefined();

    for (const sql of RESET[source]!('ds_change_outbox')) await pair.a.client.exec(sql);
    await insert('p4'); // id 1, below the pointer: never read before the fix
    const outcome = await pair.forwardOnce().catch((e: unknown) => e);
    expect(codeOf(outcome)).toBe('pointer_ahead');
    expect(await targetIds(pair)).not.toContain('p4');

    const status = (await readStatus(pair.config, pair.nodes)).programs.find((p) => p.id === 1000)!;
    expect(status.status).toBe('pointer_ahead');
    expect(status.pointerAhead).toMatchObject({ table: 'ds_change_outbox', pointer, counter: 1, rows: 1 });
    expect(status.message).toContain(`pointer ${pointer}`);
    const thrown = await checkPointer(pair.a.client, 1000, 'ds_change_outbox', pointer).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(RuntimeError);
    expect(codeOf(thrown)).toBe('pointer_ahead');

    // The fix for rows written since the reset: renumber them above the pointer, move the counter.
    for (const sql of renumberStatements(status.pointerAhead!.fix)) await pair.a.client.exec(sql);
    expect(await findPointerAhead(pair.a.client, 'ds_change_outbox', pointer)).toBeNull();
    await insert('p5');
    const ids = await until(
      async () => {
        await pair.forward();
        return targetIds(pair);
      },
      (v) => v.includes('p4') && v.includes('p5'),
    );
    expect(ids).toEqual(expect.arrayContaining(['p1', 'p2', 'p3', 'p4', 'p5']));
  });

  it('the same for an import whose inbox was truncated', async () => {
    const importer = pair.config.programs.find((p) => p.id === 1003)!;
    const idsAtA = async () => (await selectAllRows(pair.a.client, pair.tables.a.sales_order)).map((r) => r.order_id);
    const insertAtB = (id: string) =>
      pair.b.client.query(
        `INSERT INTO sales_order (order_id, description, quantity) VALUES (${[1, 2, 3].map(pair.b.dialect.sql.param).join(', ')})`,
        [id, id, 1],
      );
    for (const id of ['q1', 'q2']) await insertAtB(id);
    await until(
      async () => {
        await pair.backward();
        return idsAtA();
      },
      (v) => v.includes('q1') && v.includes('q2'),
    );
    const pointer = (await readProgramState(pair.a.client, importer, 'a')).pointer;
    expect(pointer).toBeGreaterThanOrEqual(2);

    for (const sql of RESET[source]!('ds_change_inbox')) await pair.a.client.exec(sql);
    await insertAtB('q3');
    const outcome = await pair.backward().catch((e: unknown) => e); // the transport writes q3 into the inbox at id 1; the import refuses
    expect(codeOf(outcome)).toBe('pointer_ahead');
    expect(await idsAtA()).not.toContain('q3');
    const status = (await readStatus(pair.config, pair.nodes)).programs.find((p) => p.id === 1003)!;
    expect(status.pointerAhead).toMatchObject({ table: 'ds_change_inbox', pointer, counter: 1, rows: 1 });

    for (const sql of renumberStatements(status.pointerAhead!.fix)) await pair.a.client.exec(sql);
    const ids = await until(
      async () => {
        await pair.backward();
        return idsAtA();
      },
      (v) => v.includes('q3'),
    );
    expect(ids).toContain('q3');
  });
});
