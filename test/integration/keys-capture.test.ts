/**
 * Capture mode keys (docs/capture-modes.md#keys) on every live brand: node a's tables are
 * captured by triggers that note only the keys of the rows a statement wrote
 * (ds_key_<table>), and by passes that compare those rows with their shadow. A pass sends
 * inserts, only the changed columns of an update with their old values, deletes and key
 * changes at once (no scan needed), and consumes exactly the notes it read; what the import
 * writes, or a load brings, is neither noted nor sent back; a pass that fails midway leaves
 * its notes and no outbox row; a note committed late under a lower id is read by a later
 * pass, also with concurrent writers; a note that names no row stops the pass with the fix.
 * Then a seeded random workload in mode keys ends with the same rows at the target as in
 * trigger mode, and writers on both nodes at once, with everything running both ways, leave
 * both with the same rows (the seed is in the test's name; DSYNC_SEED=<seed> replays it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { keyNotesTable } from '../../src/core/safe-name.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { keysCapturePass } from '../../src/runtime/capture/query-capture.ts';
import { ARRAY_KEYS_ABOVE, selectAllRows } from '../../src/runtime/import/dml.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { liveDialects } from '../helpers/databases.ts';
import { expectSettledAndEqual, movingBothWays, sharedRowsWriter, writeWhileMoving } from '../helpers/concurrent-writers.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, daemonDelivers, pairRows, type SyncPair } from '../helpers/sync-pair.ts';
import { workload, writeRow } from '../helpers/workload.ts';

const live = await liveDialects();
const SEED = Number(process.env.DSYNC_SEED ?? Date.now() % 100_000);
const OPS = 150;
const TABLES = ['sales_order', 'order_line', 'type_zoo', 'Odd Names'];
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const outboxRows = async (client: DbClient) =>
  (
    await client.query<Row>(
      'SELECT object_operation, object_id, object_id_old, object_attribute, object_value, object_value_old, origin_change_id FROM ds_change_outbox ORDER BY id',
    )
  ).rows;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Notes not yet read, of every table in mode keys. */
async function notes(client: DbClient): Promise<number> {
  let n = 0;
  for (const t of TABLES)
    n += Number((await client.query<Row>(`SELECT count(*) AS n FROM ${client.dialect.sql.ident(keyNotesTable(t))}`)).rows[0].n);
  return n;
}

describe.each(PAIRS)('capture mode keys, %s → %s', (from, to) => {
  let pair: SyncPair;
  const capture = (deletes = false) => capturePass(pair.config, pair.nodes, 'a', { table: 'sales_order', deletes });
  const sum = (results: Awaited<ReturnType<typeof capture>>) => {
    const keys = results.flatMap((r) => (r.mode === 'keys' ? [r] : []));
    return {
      inserted: keys.reduce((n, r) => n + r.inserted, 0),
      updated: keys.reduce((n, r) => n + r.updated, 0),
      deleted: keys.reduce((n, r) => n + r.deleted, 0),
    };
  };
  const p = (i: number) => pair.a.dialect.sql.param(i);

  beforeAll(async () => {
    pair = await createSyncPair(from, to, 'latest-wins', { keysTables: TABLES });
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('sends inserts, changed columns, key changes and deletes, and consumes its notes', async () => {
    const a = pair.a.client;
    await a.query(
      `INSERT INTO sales_order (order_id, description, quantity) VALUES (${p(1)}, ${p(2)}, ${p(3)}), (${p(4)}, ${p(5)}, ${p(6)})`,
      ['k1', 'first', 1, 'k2', 'second', 2],
    );
    expect(await notes(a)).toBe(2);
    expect(sum(await capture())).toEqual({ inserted: 2, updated: 0, deleted: 0 });
    expect(await notes(a)).toBe(0);
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 0, deleted: 0 });

    // Two updates of one row between passes are one change; an update that changes nothing is none.
    await a.query(`UPDATE sales_order SET description = ${p(1)} WHERE order_id = ${p(2)}`, ['first, changed', 'k1']);
    await a.query(`UPDATE sales_order SET description = ${p(1)} WHERE order_id = ${p(2)}`, ['first, changed twice', 'k1']);
    await a.query(`UPDATE sales_order SET quantity = quantity WHERE order_id = ${p(1)}`, ['k2']);
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 1, deleted: 0 });
    const before = await outboxRows(a);
    const update = before[before.length - 1];
    expect(update.object_id).toBe('"k1"');
    expect(update.object_attribute).toBe('description');
    expect(JSON.parse(String(update.object_value))).toEqual({ description: 'first, changed twice' });
    expect(JSON.parse(String(update.object_value_old))).toEqual({ description: 'first' });

    // A delete at once (no scan), and a key change: the old key goes, the new one comes.
    await a.query(`DELETE FROM sales_order WHERE order_id = ${p(1)}`, ['k1']);
    await a.query(`UPDATE sales_order SET order_id = ${p(1)} WHERE order_id = ${p(2)}`, ['k3', 'k2']);
    expect(sum(await capture())).toEqual({ inserted: 1, updated: 0, deleted: 2 });
    expect(await notes(a)).toBe(0);
    await pair.forward();
    expect(await selectAllRows(pair.b.client, pair.tables.b.sales_order)).toEqual(await selectAllRows(a, pair.tables.a.sales_order));
  });

  it('a pass over more keys than ARRAY_KEYS_ABOVE reads and drops the shadow and its notes as one array where the brand can', async () => {
    const a = pair.a.client;
    const n = 2 * ARRAY_KEYS_ABOVE + 7;
    const ids = Array.from({ length: n }, (_, i) => `many${i}`);
    for (let i = 0; i < n; i += 100) {
      const chunk = ids.slice(i, i + 100);
      await a.query(
        `INSERT INTO sales_order (order_id, quantity) VALUES ${chunk.map((_, j) => `(${p(2 * j + 1)}, ${p(2 * j + 2)})`).join(', ')}`,
        chunk.flatMap((id, j) => [id, i + j]),
      );
    }
    expect(sum(await capture())).toEqual({ inserted: n, updated: 0, deleted: 0 });
    expect(await notes(a)).toBe(0);
    // Every row again, then most of them gone: the pass reads n shadow entries, drops the deleted ones.
    await a.query(`UPDATE sales_order SET quantity = quantity + 1000 WHERE order_id LIKE ${p(1)}`, ['many%']);
    await a.query(`DELETE FROM sales_order WHERE order_id LIKE ${p(1)} AND quantity >= ${p(2)}`, ['many%', 1000 + ARRAY_KEYS_ABOVE]);
    const gone = n - ARRAY_KEYS_ABOVE;
    expect(sum(await capture())).toEqual({ inserted: 0, updated: ARRAY_KEYS_ABOVE, deleted: gone });
    expect(await notes(a)).toBe(0);
    const shadow = await a.query<Row>(`SELECT count(*) AS n FROM ds_capture_shadow WHERE table_name = ${p(1)} AND row_key LIKE ${p(2)}`, [
      'sales_order',
      '"many%',
    ]);
    expect(Number(shadow.rows[0].n)).toBe(ARRAY_KEYS_ABOVE);
    await pair.forward();
    expect(await selectAllRows(pair.b.client, pair.tables.b.sales_order)).toEqual(await selectAllRows(a, pair.tables.a.sales_order));
  });

  it('notes nothing for what the import writes, and still captures a local change beside it', async () => {
    const a = pair.a.client;
    const b = pair.b.client;
    const q = pair.b.dialect.sql.param;
    await b.query(`INSERT INTO sales_order (order_id, description) VALUES (${q(1)}, ${q(2)})`, ['k9', 'made on b']);
    await b.query(`UPDATE sales_order SET customer_id = ${q(1)} WHERE order_id = ${q(2)}`, ['from-b', 'k3']);
    // A local change on a, not yet captured, to another column of a row the import changes: the
    // import captures it first (captureBeforeMerge), alone, and leaves the note, in which the pass
    // then finds nothing.
    await a.query(`UPDATE sales_order SET description = ${p(1)} WHERE order_id = ${p(2)}`, ['local on a', 'k3']);
    const noted = await notes(a);
    const sent = (await outboxRows(a)).length;
    await pair.backward();
    expect(await notes(a)).toBe(noted);
    expect((await selectAllRows(a, pair.tables.a.sales_order)).find((r) => r.order_id === 'k9')).toBeTruthy();
    const local = async () => (await outboxRows(a)).slice(sent).filter((r) => r.origin_change_id === null);
    expect((await local()).map((r) => r.object_attribute)).toEqual(['description']);
    expect(sum(await capture())).toEqual({ inserted: 0, updated: 0, deleted: 0 });
    expect(await local()).toHaveLength(1);
    await pair.forward();
    await pair.backward();
    expect(await selectAllRows(b, pair.tables.b.sales_order)).toEqual(await selectAllRows(a, pair.tables.a.sales_order));
  });

  it('a pass that fails midway leaves its notes and no outbox row', async () => {
    const a = pair.a.client;
    await a.query(`UPDATE sales_order SET quantity = 99 WHERE order_id = ${p(1)}`, ['k3']);
    const sent = (await outboxRows(a)).length;
    const failing = keysCapturePass(pair.a, 'sales_order', {
      afterOutbox: async () => {
        throw new Error('killed between the outbox and the notes');
      },
    });
    await expect(failing).rejects.toThrow(/killed/);
    expect((await outboxRows(a)).length).toBe(sent);
    expect(await notes(a)).toBe(1);
    expect((await keysCapturePass(pair.a, 'sales_order')).updated).toBe(1);
    expect((await outboxRows(a)).length).toBe(sent + 1);
    expect(await notes(a)).toBe(0);
  });

  it('stops at a note that names no row, with the fix', async () => {
    const a = pair.a.client;
    await a.query(`INSERT INTO ds_key_sales_order (row_key) VALUES (${p(1)})`, ['{not json']);
    await expect(keysCapturePass(pair.a, 'sales_order')).rejects.toThrow(
      /^capture of sales_order on node a: ds_key_sales_order row \d+ does not name a row of sales_order/,
    );
    await expect(keysCapturePass(pair.a, 'sales_order')).rejects.toMatchObject({
      hint: expect.stringMatching(/DELETE FROM ds_key_sales_order WHERE id = \d+/),
    });
    await a.query(`DELETE FROM ds_key_sales_order WHERE row_key = ${p(1)}`, ['{not json']);
    await keysCapturePass(pair.a, 'sales_order');
  });

  it('does not send back the rows a load brought, even to a pass that compares the whole table', async () => {
    const b = pair.b.client;
    const q = pair.b.dialect.sql.param;
    // A row b holds that a never had: as before the two were synchronized (b's outbox row dropped).
    await b.query(`INSERT INTO sales_order (order_id, description) VALUES (${q(1)}, ${q(2)})`, ['l1', 'loaded']);
    await b.query('DELETE FROM ds_change_outbox WHERE object_id = \'"l1"\'');
    const noted = await notes(pair.a.client);
    await loadNodes(pair.config, pair.b, pair.a, ['sales_order']);
    expect((await selectAllRows(pair.a.client, pair.tables.a.sales_order)).some((r) => r.order_id === 'l1')).toBe(true);
    expect(await notes(pair.a.client)).toBe(noted);
    expect(sum(await capture(true))).toEqual({ inserted: 0, updated: 0, deleted: 0 });
  });

  it('dsync run captures the table at its interval and delivers the change', async () => {
    const a = pair.a.client;
    await a.query(`INSERT INTO sales_order (order_id, description) VALUES (${p(1)}, ${p(2)})`, ['r1', 'by the daemon']);
    const arrived = async () => (await selectAllRows(pair.b.client, pair.tables.b.sales_order)).some((r) => r.order_id === 'r1');
    expect(await daemonDelivers(pair, arrived)).toBe(true);
  }, 180_000);

  it.runIf(from !== 'sqlite')('reads a note committed late under a lower id in a later pass', async () => {
    // A second session on a: its transaction notes its row first (the lower id) and commits last.
    const a = pair.a.client;
    const dialect = await getDialect(from);
    const other = await dialect.connect(pair.a.node.url, 'a');
    try {
      await other.transaction(async (tx) => {
        await tx.query(`INSERT INTO sales_order (order_id, description) VALUES (${p(1)}, ${p(2)})`, ['late', 'committed last']);
        await a.query(`INSERT INTO sales_order (order_id, description) VALUES (${p(1)}, ${p(2)})`, ['early', 'committed first']);
        expect(sum(await capture())).toEqual({ inserted: 1, updated: 0, deleted: 0 });
      });
      expect(sum(await capture())).toEqual({ inserted: 1, updated: 0, deleted: 0 });
      const ids = (await outboxRows(a)).map((r) => r.object_id).slice(-2);
      expect(ids).toEqual(['"early"', '"late"']);
    } finally {
      await other.close();
    }
  });
});

describe.each(PAIRS)('a random workload in capture mode keys and in trigger mode, %s → %s', (from, to) => {
  const pairs: SyncPair[] = [];
  afterAll(async () => {
    for (const pair of pairs) await pair.close();
  });

  const run = async (mode: 'trigger' | 'keys') => {
    const pair = await createSyncPair(from, to, 'latest-wins', mode === 'keys' ? { keysTables: TABLES } : {});
    pairs.push(pair);
    const sync = async () => {
      if (mode === 'keys') await capturePass(pair.config, pair.nodes, 'a');
      await pair.forward();
    };
    for (const step of workload(SEED, OPS)) {
      if (step === 'sync') await sync();
      else await pair.a.client.transaction((tx) => writeRow(tx, step));
    }
    await sync();
    const rows = (side: 'a' | 'b') => pairRows(pair, side, ['sales_order', 'order_line']);
    return {
      errors: await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error'),
      notes: mode === 'keys' ? await notes(pair.a.client) : 0,
      source: await rows('a'),
      target: await rows('b'),
    };
  };

  // Two full runs on a shared, loaded machine: more than the default minute (no timing is asserted).
  it(`seed ${SEED}: the same rows at the target`, { timeout: 300_000 }, async () => {
    const byTrigger = await run('trigger');
    const byKeys = await run('keys');
    expect(byKeys.errors).toBe(0);
    expect(byKeys.notes).toBe(0);
    expect(byKeys.source).toEqual(byTrigger.source);
    expect(byKeys.target).toEqual(byKeys.source);
    expect(byKeys.target).toEqual(byTrigger.target);
    expect(byKeys.target.sales_order.length + byKeys.target.order_line.length).toBeGreaterThan(0);
  });
});

// Writers on other sessions while passes and the transport run all along: their transactions
// hold notes open (lower ids committed after higher ones), some roll back, some change keys.
// Every committed change must arrive (the pass deletes exactly the notes it read, never a range).
describe.each(PAIRS.filter(([from]) => from !== 'sqlite'))('capture mode keys with concurrent writers, %s → %s', (from, to) => {
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
  });

  it(`seed ${SEED}: the target ends equal to the source`, { timeout: 300_000 }, async () => {
    pair = await createSyncPair(from, to, 'latest-wins', { keysTables: TABLES });
    const dialect = await getDialect(from);
    const sessions = await Promise.all([0, 1, 2].map(() => dialect.connect(pair.a.node.url, 'a')));
    await writeWhileMoving(
      sessions,
      async () => {
        await capturePass(pair.config, pair.nodes, 'a');
        await pair.forward();
      },
      async (session, w) => {
        const rnd = random(SEED * 10 + w);
        const p = session.dialect.sql.param;
        const order = `w${w}`;
        for (let t = 0; t < 40; t++) {
          await session
            .transaction(async (tx) => {
              for (let op = 0, ops = 1 + Math.floor(rnd() * 4); op < ops; op++) {
                const line = Math.floor(rnd() * 6);
                const roll = rnd();
                if (roll < 0.4)
                  await tx.query(
                    `INSERT INTO order_line (order_id, line_no, product, amount) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`,
                    [order, line, `p${t}.${op}`, (rnd() * 100).toFixed(2)],
                  );
                else if (roll < 0.7)
                  await tx.query(`UPDATE order_line SET product = ${p(1)} WHERE order_id = ${p(2)} AND line_no = ${p(3)}`, [
                    `u${t}.${op}`,
                    order,
                    line,
                  ]);
                else if (roll < 0.8)
                  await tx.query(`UPDATE order_line SET line_no = ${p(1)} WHERE order_id = ${p(2)} AND line_no = ${p(3)}`, [
                    6 + Math.floor(rnd() * 3),
                    order,
                    line,
                  ]);
                else await tx.query(`DELETE FROM order_line WHERE order_id = ${p(1)} AND line_no = ${p(2)}`, [order, line]);
                // Held open across the passes of the other sessions' commits.
                if (rnd() < 0.3) await sleep(Math.floor(rnd() * 30));
              }
              if (rnd() < 0.2) throw new Error('rolled back');
            })
            .catch(() => undefined); // A rollback, or a duplicate key: the application would get the same error.
        }
      },
    );
    await capturePass(pair.config, pair.nodes, 'a');
    await pair.forward();
    expect(await notes(pair.a.client)).toBe(0);
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error')).toBe(0);
    const source = await selectAllRows(pair.a.client, pair.tables.a.order_line);
    expect(source.length).toBeGreaterThan(0);
    expect(await selectAllRows(pair.b.client, pair.tables.b.order_line)).toEqual(source);
  });
});

// Both ways at once: writers on node a (mode keys) and on node b (trigger mode) change the same
// rows while a's passes, both transports and both imports run all along. The import into a
// captures what a's passes have not read yet of the rows it merges (captureBeforeMerge), under
// the writers' own locks; nothing may deadlock for good, park or stay apart.
describe.each(PAIRS.filter(([from]) => from !== 'sqlite'))(
  'capture mode keys both ways with writers on both nodes, %s ↔ %s',
  (from, to) => {
    let pair: SyncPair;
    afterAll(async () => {
      await pair?.close();
    });

    it(`seed ${SEED}: both nodes end with the same rows`, { timeout: 300_000 }, async () => {
      pair = await createSyncPair(from, to, 'latest-wins', { keysTables: TABLES });
      const sessions = [
        ...(await Promise.all([0, 1].map(async () => (await getDialect(from)).connect(pair.a.node.url, 'a')))),
        await (await getDialect(to)).connect(pair.b.node.url, 'b'),
      ];
      // a's passes run every fourth round only: the import into a mostly meets local changes no pass has read.
      await writeWhileMoving(sessions, movingBothWays(pair), sharedRowsWriter(SEED));
      await expectSettledAndEqual(pair, SEED);
    });
  },
);
