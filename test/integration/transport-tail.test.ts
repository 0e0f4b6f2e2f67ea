/**
 * Under `dsync run`, a direct transport wakes its destination's import as soon as the inbox
 * write commits, then lets that import's pass run before its own tail (the flush, the pointer
 * save, the held-back count), so the two do not compete for the CPU (daemon.ts afterNextPass).
 * Here the import is held up by a lock: the transport's pass must not end, nor its pointer
 * move, before the import's pass has ended; then both finish. And the inbox commit, which the
 * daemon also hears (LISTEN), wakes no second pass of that import (Daemon.heard). Needs a
 * PostgreSQL server (two sessions at once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/config.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { insertRow, selectAllRows } from '../../src/runtime/import/dml.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { sleep, until } from '../helpers/until.ts';

const live = await liveDialects();
const server = live.includes('postgres') && (await postgresMode()) === 'server';
if (!server) console.warn('skipping transport-tail tests: they need concurrent sessions of a PostgreSQL server');

/** One `dsync import` of program 1001 into node b, on a connection of its own. */
async function importBeside(config: Config) {
  const own = new NodeSet(config);
  try {
    return await importOnce(config, config.programs.find((p) => p.id === 1001)!, await own.get('b'));
  } finally {
    await own.closeAll();
  }
}

describe.skipIf(!server)('daemon: the transport finishes after the import it woke', () => {
  let pair: SyncPair;
  let blocker: DbClient | undefined;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
  });
  afterAll(async () => {
    await blocker?.close().catch(() => undefined);
    await pair?.close();
  });

  it("the transport's pass ends, and its pointer moves, only after the woken import's pass", async () => {
    const passes: Array<{ program: number; moved: number; applied: number }> = [];
    const stop = new AbortController();
    const daemon = new Daemon(pair.config, {
      signal: stop.signal,
      passWaitMs: 60_000,
      onPass: (metrics, result) =>
        passes.push({
          program: metrics.program.id,
          moved: result && 'moved' in result ? result.moved : 0,
          applied: result && 'applied' in result ? result.applied : 0,
        }),
    });
    const running = daemon.run();
    const transportPointer = async () =>
      Number((await pair.a.client.query<Row>('SELECT last_pointer FROM ds_program_parameter WHERE id = 1000')).rows[0].last_pointer);
    try {
      expect(await until(() => [1000, 1001].every((id) => passes.some((p) => p.program === id)))).toBe(true);
      const pointerBefore = await transportPointer();
      // Hold the import's parking lock: its next pass waits for it.
      blocker = await pair.b.dialect.connect(pair.b.node.url, 'b');
      await blocker.exec('BEGIN');
      await blocker.query('SELECT id FROM ds_program_parameter WHERE id = 1001 FOR UPDATE');
      await insertRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'tail', description: 'tail', quantity: 1 });
      // The inbox has the row (the import was woken), yet the transport's pass has not ended.
      expect(await until(async () => (await pair.count(pair.b.client, 'SELECT count(*) AS n FROM ds_change_inbox')) > 0)).toBe(true);
      await sleep(500);
      expect(passes.filter((p) => p.program === 1000 && p.moved > 0)).toEqual([]);
      expect(await transportPointer()).toBe(pointerBefore);
      await blocker.exec('COMMIT');
      expect(await until(() => passes.some((p) => p.program === 1000 && p.moved > 0))).toBe(true);
      const applied = passes.findIndex((p) => p.program === 1001 && p.applied > 0);
      const moved = passes.findIndex((p) => p.program === 1000 && p.moved > 0);
      expect(applied).toBeGreaterThanOrEqual(0);
      expect(applied).toBeLessThan(moved);
      expect(await transportPointer()).toBeGreaterThan(pointerBefore);
      expect((await selectAllRows(pair.b.client, pair.tables.b.sales_order)).map((r) => r.order_id)).toContain('tail');
    } finally {
      await blocker?.exec('ROLLBACK').catch(() => undefined);
      stop.abort();
      await running;
    }
  }, 120_000);

  it("a change that comes alone costs its import one pass: the transport's own inbox commit wakes nothing more", async () => {
    // Programs that sleep a minute: every pass below is a wake-up's.
    const config = { ...pair.config, programs: pair.config.programs.map((p) => ({ ...p, intervalSeconds: 60 })) };
    const imports: number[] = [];
    const stop = new AbortController();
    const daemon = new Daemon(config, {
      signal: stop.signal,
      onPass: (metrics, result) => {
        if (metrics.program.id === 1001 && result && 'applied' in result) imports.push(result.applied);
      },
    });
    const running = daemon.run();
    const changes = 8;
    try {
      expect(await until(() => imports.length > 0)).toBe(true);
      await sleep(300);
      const before = imports.length;
      for (let i = 0; i < changes; i++) {
        await insertRow(pair.a.client, pair.tables.a.sales_order, { order_id: `alone-${i}`, description: 'alone', quantity: i });
        const arrived = until(
          async () => (await pair.count(pair.b.client, `SELECT count(*) AS n FROM sales_order WHERE order_id = 'alone-${i}'`)) === 1,
        );
        expect(await arrived).toBe(true);
        await sleep(100);
      }
      const passes = imports.slice(before);
      expect(passes.reduce((n, applied) => n + applied, 0)).toBe(changes);
      // Woken by its own inbox commit as well, the import made an idle pass (or a reading one) for nearly every change.
      expect(passes.filter((applied) => applied === 0).length).toBeLessThanOrEqual(changes / 4);
    } finally {
      stop.abort();
      await running;
    }
  }, 120_000);

  it('seeded bursts of changes to few rows, with a second importer now and then, arrive as the source holds them', async () => {
    // Under the daemon the import begins a small batch while the transport's write is on its way (SendingBatch); here the
    // order of the two, the rows of a burst, and an importer that moves the pointer under it vary with the seed.
    const seed = Number(process.env.DSYNC_HANDOVER_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`daemon handover: seed ${seed} (replay: DSYNC_HANDOVER_SEED=${seed})`);
    const rand = random(seed);
    const config = { ...pair.config, programs: pair.config.programs.map((p) => ({ ...p, intervalSeconds: 60 })) };
    const stop = new AbortController();
    const running = new Daemon(config, { signal: stop.signal }).run();
    const rows = async (client: DbClient) =>
      (await client.query<Row>("SELECT order_id, quantity FROM sales_order WHERE order_id LIKE 'burst-%' ORDER BY order_id")).rows
        .map((r) => `${r.order_id}=${r.quantity}`)
        .join(' ');
    const others: Promise<unknown>[] = [];
    try {
      const src = pair.a.client;
      for (let burst = 0; burst < 40; burst++) {
        for (let n = 1 + Math.floor(rand() * 4); n > 0; n--) {
          const id = `burst-${Math.floor(rand() * 6)}`;
          const quantity = Math.floor(rand() * 1000);
          const exists = (await src.query<Row>('SELECT 1 FROM sales_order WHERE order_id = $1', [id])).rows.length > 0;
          if (!exists) await insertRow(src, pair.tables.a.sales_order, { order_id: id, description: 'burst', quantity });
          else if (rand() < 0.25) await src.query('DELETE FROM sales_order WHERE order_id = $1', [id]);
          else await src.query('UPDATE sales_order SET quantity = $1 WHERE order_id = $2', [quantity, id]);
        }
        // A second importer has its own connection, as a `dsync import` beside the daemon does.
        if (rand() < 0.15) others.push(importBeside(config));
        await sleep(Math.floor(rand() * 30));
      }
      await Promise.all(others);
      const expected = await rows(src);
      expect(await until(async () => (await rows(pair.b.client)) === expected)).toBe(true);
      // Each change received once.
      expect(
        await pair.count(pair.b.client, 'SELECT count(*) - count(DISTINCT (updated_by_server_id, origin_change_id)) FROM ds_change_inbox'),
      ).toBe(0);
    } finally {
      stop.abort();
      await running;
    }
  }, 180_000);
});
