/**
 * DESIGN rule 1, tried with real concurrent sessions: outbox ids are taken at insert,
 * not commit. A transaction holding a low id that commits after a higher id was read
 * must not be skipped; a rolled-back id must not stall the stream; and an old
 * transaction that updates a row after a younger one's update of it committed must
 * win at the target (commit order), not lose to it.
 * Needs a PostgreSQL server: the embedded stand-in serves one session at a time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import { insertRow, selectAllRows, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { createTestDatabase, liveDialects, postgresMode } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair, extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const server = live.includes('postgres') && (await postgresMode()) === 'server';
if (!server)
  console.warn(
    'skipping gap-safety tests: they need concurrent sessions of a PostgreSQL server (the embedded PGlite serves one at a time)',
  );

const order = (id: string, description = 'd'): ValueMap => ({ order_id: id, description, quantity: 1 });

describe.skipIf(!server).each(live.includes('sqlite') ? (['sqlite', 'postgres'] as const) : (['postgres'] as const))(
  'gap safety, postgres → %s',
  (target) => {
    let pair: SyncPair;
    const sessions = extraSessions(() => pair.a.dialect.connect(pair.a.node.url, 'a'));
    const session = sessions.session;
    const ids = async () => (await selectAllRows(pair.b.client, pair.tables.b.sales_order)).map((r) => r.order_id);

    beforeAll(async () => {
      pair = await createSyncPair('postgres', target);
    });
    afterAll(async () => {
      await sessions.closeAll();
      await pair?.close();
    });

    it('delivers a low id that commits late, and is not stalled by a rollback', async () => {
      const [t1, t2, t3] = [await session(), await session(), await session()];
      await t1.exec('BEGIN');
      await insertRow(t1, pair.tables.a.sales_order, order('late'));
      await t2.exec('BEGIN');
      await insertRow(t2, pair.tables.a.sales_order, order('early'));
      await t2.exec('COMMIT');
      await pair.forwardOnce();
      expect(await ids()).not.toContain('late');
      await t3.exec('BEGIN');
      await insertRow(t3, pair.tables.a.sales_order, order('ghost'));
      await t3.exec('ROLLBACK');
      await pair.forwardOnce();
      await t1.exec('COMMIT');
      await pair.forwardOnce();
      await pair.forwardOnce();
      expect((await ids()).sort()).toEqual(['early', 'late']);
      // The ghost's id is a hole forever: later changes still flow.
      await insertRow(pair.a.client, pair.tables.a.sales_order, order('after'));
      await pair.forwardOnce();
      expect((await ids()).sort()).toEqual(['after', 'early', 'late']);
    });

    it('applies same-row changes in commit order when an old transaction writes last', async () => {
      await insertRow(pair.a.client, pair.tables.a.sales_order, order('r', 'initial'));
      await pair.forwardOnce();
      const [old, young] = [await session(), await session()];
      await old.exec('BEGIN');
      await insertRow(old, pair.tables.a.sales_order, order('old-first-write')); // the old transaction takes its xid and an id now
      await young.exec('BEGIN');
      await updateRow(young, pair.tables.a.sales_order, { order_id: 'r' }, { description: 'young' });
      await young.exec('COMMIT');
      await pair.forwardOnce();
      await updateRow(old, pair.tables.a.sales_order, { order_id: 'r' }, { description: 'old, committed last' });
      await pair.forwardOnce();
      await old.exec('COMMIT');
      await pair.forwardOnce();
      await pair.forwardOnce();
      expect(await selectRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'r' })).toMatchObject({
        description: 'old, committed last',
      });
      expect(await selectRow(pair.b.client, pair.tables.b.sales_order, { order_id: 'r' })).toMatchObject({
        description: 'old, committed last',
      });
      expect(await ids()).toContain('old-first-write');
    });

    it('a transaction open across many reads holds the horizon, then everything arrives in order', async () => {
      const holder = await session();
      await holder.exec('BEGIN');
      await insertRow(holder, pair.tables.a.sales_order, order('holder'));
      for (let i = 0; i < 30; i++) {
        await updateRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'r' }, { quantity: i });
        if (i % 10 === 0) await pair.forwardOnce();
      }
      await holder.exec('COMMIT');
      await pair.forwardOnce();
      await pair.forwardOnce();
      expect(await selectRow(pair.b.client, pair.tables.b.sales_order, { order_id: 'r' })).toMatchObject({ quantity: 29 });
      expect(await ids()).toContain('holder');
    });

    it('is not held back by an open write transaction elsewhere in the cluster, nor by one on another table', async () => {
      const other = await createTestDatabase('postgres', 'dsync_busy');
      const elsewhere = await pair.a.dialect.connect(other.url, 'busy');
      const sameDbOtherTable = await session();
      try {
        await elsewhere.exec('CREATE TABLE busy (x int)');
        await elsewhere.exec('BEGIN');
        await elsewhere.exec('INSERT INTO busy VALUES (1)');
        await sameDbOtherTable.exec('BEGIN');
        await sameDbOtherTable.exec('CREATE TEMP TABLE scratch (x int); INSERT INTO scratch VALUES (1)');
        await insertRow(pair.a.client, pair.tables.a.sales_order, order('while-busy'));
        await pair.forwardOnce();
        expect(await ids()).toContain('while-busy');
      } finally {
        await elsewhere.exec('ROLLBACK').catch(() => undefined);
        await sameDbOtherTable.exec('ROLLBACK').catch(() => undefined);
        await elsewhere.close();
        await other.drop();
      }
    });
  },
);
