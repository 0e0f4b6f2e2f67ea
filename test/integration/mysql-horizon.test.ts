/**
 * DESIGN rule 1 on MySQL/MariaDB, with real concurrent sessions: ids are handed out at
 * insert, so the safe horizon must stop below an id whose transaction is still open,
 * pass it once that transaction commits, and never wait forever on a rolled-back one.
 * Also: a stale INNODB_TRX (someone polling it) must stop the horizon, never mislead it;
 * and end to end through the runtime, a late commit arrives and same-row order holds.
 * The fence waits for every transaction of the server, and other test files share the
 * server: "passes" is therefore checked as "passes soon", never as "passes at once".
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { RuntimeError } from '../../src/core/errors.ts';
import { insertRow, selectAllRows, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';
import { createSyncPair, type SyncPair, extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const mysql = live.includes('mysql');

/** Polls `read` until `done` holds of its value (other sessions of the server may hold a fence for a while). */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A hand-written outbox row (the seed's way) in `session`; returns its id. */
async function outboxInsert(session: DbClient, note: string): Promise<number> {
  await session.query("INSERT INTO ds_change_outbox (object_table, object_operation, note1) VALUES ('sales_order', 'I', ?)", [note]);
  const { rows } = await session.query<Row>('SELECT LAST_INSERT_ID() AS id');
  return Number(rows[0].id);
}

describe.skipIf(!mysql)('mysql safe horizon with concurrent sessions', () => {
  let node: SyncNode;
  const sessions = extraSessions(() => node.dialect.connect(node.db.url, 'mysql'));
  const session = sessions.session;
  const horizon = () => node.dialect.readSafeHorizon(node.client, 'ds_change_outbox');

  beforeAll(async () => {
    node = await createSyncNode('mysql');
  });
  afterAll(async () => {
    await sessions.closeAll();
    await node?.close();
  });

  it('stops below an open transaction id, passes it after commit, and is not stalled by a rollback', async () => {
    const [t1, t2, t3] = [await session(), await session(), await session()];
    await t1.exec('START TRANSACTION');
    const n = await outboxInsert(t1, 'late');
    const n1 = await outboxInsert(t2, 'early'); // autocommit: visible now
    expect(n1).toBe(n + 1);
    expect(await horizon()).toBeLessThan(n);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await horizon()).toBeLessThan(n); // t1 is still open, however long

    await t3.exec('START TRANSACTION');
    const ghost = await outboxInsert(t3, 'ghost');
    await t3.exec('ROLLBACK');
    expect(await horizon()).toBeLessThan(n);

    await t1.exec('COMMIT');
    const h2 = await eventually(horizon, (h) => h >= ghost);
    expect(h2).toBeGreaterThanOrEqual(n + 1);
    expect(h2).toBeGreaterThanOrEqual(ghost); // the rolled-back id is a hole, not a wait
    const { rows } = await node.client.query<Row>('SELECT id, note1 FROM ds_change_outbox WHERE id >= ? AND id <= ? ORDER BY id', [n, h2]);
    expect(rows.map((r) => r.note1)).toEqual(['late', 'early']);
  });

  it('a transaction open across many reads holds the horizon, then releases it', async () => {
    const holder = await session();
    await holder.exec('START TRANSACTION');
    const held = await outboxInsert(holder, 'holder');
    const writer = await session();
    let last = 0;
    for (let i = 0; i < 5; i++) {
      last = await outboxInsert(writer, `w${i}`);
      expect(await horizon()).toBeLessThan(held);
    }
    await holder.exec('COMMIT');
    expect(await eventually(horizon, (h) => h >= last)).toBeGreaterThanOrEqual(last);
    // The fences of those reads were folded into the one that passed, not piled up.
    const { rows } = await node.client.query<Row>(
      "SELECT open_transactions AS open FROM ds_change_horizon WHERE table_name = 'ds_change_outbox'",
    );
    expect(rows).toEqual([{ open: '[]' }]);
  });

  it('an idle read answers from the passed fence without waiting', async () => {
    const { rows } = await node.client.query<Row>('SELECT max(id) AS id FROM ds_change_outbox');
    await eventually(horizon, (h) => h >= Number(rows[0].id));
    const started = Date.now();
    for (let i = 0; i < 5; i++) await horizon();
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('refuses to move when INNODB_TRX is kept stale by another reader, rather than skip an open transaction', async () => {
    const [t1, t2, poller] = [await session(), await session(), await session()];
    let polling = true;
    // InnoDB refreshes the INNODB_TRX cache only after 100 ms without a read.
    const loop = (async () => {
      while (polling) await poller.query('SELECT count(*) FROM information_schema.INNODB_TRX');
    })();
    try {
      await new Promise((r) => setTimeout(r, 50));
      await t1.exec('START TRANSACTION');
      const n = await outboxInsert(t1, 'unseen by the stale cache');
      await outboxInsert(t2, 'after it');
      const outcome = await horizon().catch((e: unknown) => e);
      if (typeof outcome === 'number') expect(outcome).toBeLessThan(n);
      else {
        expect(outcome).toBeInstanceOf(RuntimeError);
        expect((outcome as RuntimeError).code).toBe('horizon_stale');
        expect((outcome as RuntimeError).hint).toMatch(/INNODB_TRX/);
      }
    } finally {
      polling = false;
      await loop;
      await t1.exec('ROLLBACK');
    }
  });
});

const TARGETS = (['mysql', 'postgres'] as const).filter((d) => live.includes(d));

describe.skipIf(!mysql).each(TARGETS)('gap safety end to end, mysql → %s', (target) => {
  let pair: SyncPair;
  const sessions = extraSessions(() => pair.a.dialect.connect(pair.a.node.url, 'a'));
  const session = sessions.session;
  const order = (id: string, description = 'd'): ValueMap => ({ order_id: id, description, quantity: 1 });
  const ids = async () => (await selectAllRows(pair.b.client, pair.tables.b.sales_order)).map((r) => r.order_id);
  /** Forwards until `done` holds of the target's ids (a transaction elsewhere on the server may hold the fence a while). */
  const forwardUntil = (done: (ids: unknown[]) => boolean) =>
    eventually(async () => {
      await pair.forwardOnce();
      return ids();
    }, done);

  beforeAll(async () => {
    pair = await createSyncPair('mysql', target);
  });
  afterAll(async () => {
    await sessions.closeAll();
    await pair?.close();
  });

  it('delivers a low id that commits late, and is not stalled by a rollback', async () => {
    const [t1, t2, t3] = [await session(), await session(), await session()];
    await t1.exec('START TRANSACTION');
    await insertRow(t1, pair.tables.a.sales_order, order('late'));
    await insertRow(t2, pair.tables.a.sales_order, order('early'));
    await pair.forwardOnce();
    expect(await ids()).not.toContain('late');
    await t3.exec('START TRANSACTION');
    await insertRow(t3, pair.tables.a.sales_order, order('ghost'));
    await t3.exec('ROLLBACK');
    await t1.exec('COMMIT');
    expect((await forwardUntil((i) => i.includes('late'))).sort()).toEqual(['early', 'late']);
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('after'));
    expect((await forwardUntil((i) => i.includes('after'))).sort()).toEqual(['after', 'early', 'late']);
  });

  it('applies same-row changes in commit order when an old transaction writes last', async () => {
    await insertRow(pair.a.client, pair.tables.a.sales_order, order('r', 'initial'));
    await forwardUntil((i) => i.includes('r'));
    const [old, young] = [await session(), await session()];
    await old.exec('START TRANSACTION');
    await insertRow(old, pair.tables.a.sales_order, order('old-first-write'));
    await young.exec('START TRANSACTION');
    await updateRow(young, pair.tables.a.sales_order, { order_id: 'r' }, { description: 'young' });
    await young.exec('COMMIT');
    await pair.forwardOnce();
    // The row lock makes the old transaction's update (and its outbox id) come after the young commit.
    await updateRow(old, pair.tables.a.sales_order, { order_id: 'r' }, { description: 'old, committed last' });
    await pair.forwardOnce();
    await old.exec('COMMIT');
    await forwardUntil((i) => i.includes('old-first-write'));
    expect(await selectRow(pair.b.client, pair.tables.b.sales_order, { order_id: 'r' })).toMatchObject({
      description: 'old, committed last',
    });
    expect(await ids()).toContain('old-first-write');
  });
});
