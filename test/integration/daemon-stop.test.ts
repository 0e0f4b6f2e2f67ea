/**
 * Stopping `dsync run` (Daemon.stop, SIGTERM in the CLI): every loop finishes the pass in
 * hand, and while one takes long the daemon says which loops it still waits for and what
 * each is doing (reportStopping), so that a stop that hangs names its cause. Here the
 * import of node b waits for its parking lock, held by another session, when the stop
 * comes: the report must name that import alone, and once the lock is released the pass
 * ends and the daemon with it, the change applied or left in the inbox for the next pass
 * (which rows the held pass had read before it waited depends on when it was woken; a
 * MariaDB import also holds back inbox rows committed while the lock's transaction was open). The change comes from a PostgreSQL node:
 * a MariaDB source would hold it back while the lock's transaction is open (its horizon is
 * server-wide). Needs a PostgreSQL server (two sessions at once).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { insertRow } from '../../src/runtime/import/dml.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { sleep, until } from '../helpers/until.ts';

const live = await liveDialects();
const server = live.includes('postgres') && (await postgresMode()) === 'server';
const brands = (['postgres', 'mysql'] as DialectName[]).filter((d) => server && live.includes(d));
if (!server) console.warn('skipping daemon-stop tests: they need concurrent sessions of a PostgreSQL server');

describe.each(brands)('daemon stop, postgres → %s', (brand) => {
  let pair: SyncPair | undefined;
  let blocker: DbClient | undefined;
  afterEach(async () => {
    await blocker?.close().catch(() => undefined);
    await pair?.close();
  });

  it('names the pass it waits for while stopping, then ends with that pass, losing nothing', async () => {
    pair = await createSyncPair('postgres', brand);
    const lines: string[] = [];
    const daemon = new Daemon(pair.config, { log: (line) => lines.push(line), stopReportSeconds: 0.2 });
    const running = daemon.run();
    let stopped = false;
    void running.finally(() => (stopped = true));
    try {
      // Hold the import's parking lock: its next pass waits for it.
      blocker = await pair.b.dialect.connect(pair.b.node.url, 'b');
      await blocker.exec('BEGIN');
      await blocker.query('SELECT id FROM ds_program_parameter WHERE id = 1001 FOR UPDATE');
      await insertRow(pair.a.client, pair.tables.a.sales_order, { order_id: 'held', description: 'held', quantity: 1 });
      expect(
        await until(async () => (await pair!.count(pair!.b.client, 'SELECT count(*) AS n FROM ds_change_inbox')) > 0),
        lines.join('\n'),
      ).toBe(true);
      // The import's pass is under way (woken by the inbox write) and waits for the lock.
      expect(await until(() => daemon.stillRunning().some((l) => l.startsWith('program 1001 (a pass,')))).toBe(true);
      await sleep(300);
      expect(daemon.stillRunning().find((l) => l.startsWith('program 1001'))).toMatch(/^program 1001 \(a pass, /);
      daemon.stop();
      const report = () => lines.filter((l) => l.includes('still stopping after'));
      expect(await until(() => report().length >= 2)).toBe(true);
      // Every other loop has ended: the report names the held import alone.
      expect(report().at(-1)).toMatch(
        /still stopping after \d+ s; waiting for: program 1001 \(a pass, \d+\.\d s\) {2}event=still_stopping/,
      );
      expect(stopped).toBe(false);
      await blocker.exec('COMMIT');
      await running;
      expect(daemon.stillRunning()).toEqual([]);
      // The pass in hand applied the change, or left it for the next pass: nothing parked, nothing lost.
      const held = "SELECT count(*) AS n FROM sales_order WHERE order_id = 'held'";
      await pair.forward();
      expect(await pair.count(pair.b.client, held)).toBe(1);
      expect(await pair.count(pair.b.client, 'SELECT count(*) AS n FROM ds_change_error')).toBe(0);
      const reports = report().length;
      await sleep(500);
      expect(report().length).toBe(reports);
    } finally {
      await blocker?.exec('ROLLBACK').catch(() => undefined);
      daemon.stop();
      await running;
    }
  }, 120_000);

  it('ends soon whenever the stop comes: while its loops connect, listen, pass or sleep (seeded)', async () => {
    // A stop that lands while a loop is between its stopping check and its next sleep (a LISTEN being
    // opened, a pass ending) must not leave that sleep to run its course (an hour for a listener).
    const seed = Number(process.env.DSYNC_STOP_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`daemon stop timing: seed ${seed} (replay: DSYNC_STOP_SEED=${seed})`);
    const next = random(seed);
    pair = await createSyncPair('postgres', brand);
    for (let round = 0; round < 25; round++) {
      if (next() < 0.5) {
        await insertRow(pair.a.client, pair.tables.a.sales_order, { order_id: `t${round}`, description: 'timing', quantity: round });
      }
      const daemon = new Daemon(pair.config, { stopReportSeconds: 1 });
      const running = daemon.run();
      await sleep(Math.floor(next() * 60));
      daemon.stop();
      const ended = await Promise.race([running.then(() => true), sleep(20_000).then(() => false)]);
      expect(ended, `seed ${seed}, round ${round}: still running ${daemon.stillRunning().join('; ')}`).toBe(true);
    }
    await pair.forward();
    expect(await pair.count(pair.b.client, "SELECT count(*) AS n FROM sales_order WHERE description = 'timing'")).toBe(
      await pair.count(pair.a.client, "SELECT count(*) AS n FROM sales_order WHERE description = 'timing'"),
    );
  }, 300_000);
});
