/**
 * Application writers running beside dsync's own passes: sessions that change the same few rows
 * of order_line at once, in transactions held open across the passes, some rolled back, while a
 * mover loop runs transports, imports and capture passes all along.
 */
import { expect } from 'vitest';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { random } from './random.ts';
import type { SyncPair } from './sync-pair.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Each of `sessions` runs `write` (with its index) while `round` (with its number) runs over and
 * over, `pauseMs` apart, until every writer is done; the sessions are closed at the end.
 */
export async function writeWhileMoving(
  sessions: DbClient[],
  round: (n: number) => Promise<void>,
  write: (session: DbClient, w: number) => Promise<void>,
  /** The mover's pause between rounds: a longer one lets changes pile up into larger batches. */
  pauseMs = 5,
): Promise<void> {
  let writing = true;
  const mover = (async () => {
    for (let n = 0; writing; n++) {
      await round(n);
      await sleep(pauseMs);
    }
  })();
  try {
    await Promise.all(sessions.map(write));
  } finally {
    writing = false;
    await mover;
    for (const session of sessions) await session.close();
  }
}

/** The writers' sessions of a pair: two on each server node, one on a SQLite node, which takes one writer at a time. */
export async function writerSessions(pair: SyncPair): Promise<DbClient[]> {
  const sessions = async (brand: DialectName, url: string, name: string) =>
    Promise.all((brand === 'sqlite' ? [0] : [0, 1]).map(async () => (await getDialect(brand)).connect(url, name)));
  return [...(await sessions(pair.a.dialect.name, pair.a.node.url, 'a')), ...(await sessions(pair.b.dialect.name, pair.b.node.url, 'b'))];
}

/**
 * The mover's round: both ways, with node a's capture passes (modes query, keys, log) every
 * fourth round only, so that the import into a mostly meets local changes no pass has read.
 */
export const movingBothWays =
  (pair: SyncPair) =>
  async (round: number): Promise<void> => {
    if (round % 4 === 0) await capturePass(pair.config, pair.nodes, 'a');
    await pair.forward();
    await pair.backward();
  };

/**
 * Writer `w` of a seeded run: `transactions` (40) transactions of 1–3 inserts, updates and deletes of the same
 * eight order_line rows every writer writes, so that changes cross and conflict. A transaction is
 * held open across short sleeps and one in five rolls back; a duplicate key or a deadlock fails it
 * as it would fail the application's. SQLite in this process commits each statement alone: a
 * transaction held across awaits would make dsync's synchronous busy wait block the very writer
 * it waits for.
 */
export function sharedRowsWriter(seed: number, transactions = 40): (session: DbClient, w: number) => Promise<void> {
  return async (session, w) => {
    const rnd = random(seed * 10 + w);
    const p = session.dialect.sql.param;
    const inProcess = session.dialect.name === 'sqlite';
    const run = (fn: (tx: DbClient) => Promise<void>) => (inProcess ? fn(session) : session.transaction(fn));
    for (let t = 0; t < transactions; t++) {
      await run(async (tx) => {
        for (let op = 0, ops = 1 + Math.floor(rnd() * 3); op < ops; op++) {
          const order = `s${Math.floor(rnd() * 2)}`;
          const line = Math.floor(rnd() * 4);
          const roll = rnd();
          if (roll < 0.4)
            await tx.query(`INSERT INTO order_line (order_id, line_no, product, amount) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`, [
              order,
              line,
              `w${w}.${t}.${op}`,
              (rnd() * 100).toFixed(2),
            ]);
          else if (roll < 0.8)
            await tx.query(`UPDATE order_line SET product = ${p(1)} WHERE order_id = ${p(2)} AND line_no = ${p(3)}`, [
              `u${w}.${t}.${op}`,
              order,
              line,
            ]);
          else await tx.query(`DELETE FROM order_line WHERE order_id = ${p(1)} AND line_no = ${p(2)}`, [order, line]);
          if (!inProcess && rnd() < 0.3) await sleep(Math.floor(rnd() * 20));
        }
        if (!inProcess && rnd() < 0.2) throw new Error('rolled back');
      }).catch(() => undefined);
    }
  };
}

/**
 * After the writers: `syncAll` holds nothing back, neither node has a parked or pending change,
 * both hold the same order_line rows and the same version entries for them (some: the writers' changes
 * crossed), and the entries of live rows are as many as the rows.
 */
export async function expectSettledAndEqual(pair: SyncPair, seed: number): Promise<void> {
  const report = await pair.syncAll();
  expect(report.heldBack, `seed ${seed}: held back`).toBe(0);
  for (const handle of [pair.a, pair.b]) {
    const parked = await handle.client.query('SELECT status, reason FROM ds_change_error ORDER BY id');
    expect(parked.rows, `seed ${seed}: parked on ${handle.node.name}`).toEqual([]);
    const pending = await pair.count(handle.client, 'SELECT count(*) FROM ds_change_pending');
    expect(pending, `seed ${seed}: pending on ${handle.node.name}`).toBe(0);
  }
  const a = await selectAllRows(pair.a.client, pair.tables.a.order_line);
  expect(await selectAllRows(pair.b.client, pair.tables.b.order_line), `seed ${seed}: node b's rows`).toEqual(a);
  // The writers' changes crossed: both nodes hold an entry for every key written on either, and agree
  // on each one's causal length (odd: the row is there). This, not rows left, is what makes the run
  // count: all eight keys deleted at the end is a rare but lawful outcome (~1 run in 5,000 in a one-node
  // simulation of the writers).
  const entries = async (client: DbClient) =>
    (await client.query<{ row_key: string; cl: unknown }>("SELECT row_key, cl FROM ds_row_version WHERE table_name = 'order_line'")).rows
      .map((r): [string, number] => [r.row_key, Number(r.cl)])
      .sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  const entriesA = await entries(pair.a.client);
  expect(await entries(pair.b.client), `seed ${seed}: node b's version entries`).toEqual(entriesA);
  expect(entriesA.length, `seed ${seed}: keys written`).toBeGreaterThan(0);
  expect(entriesA.filter(([, cl]) => cl % 2 === 1).length, `seed ${seed}: entries of rows there`).toBe(a.length);
}
