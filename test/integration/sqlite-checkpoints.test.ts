/**
 * The WAL's checkpoints on dsync's SQLite connections (sqlite-driver.ts, afterWrite): a transaction's commit leaves
 * the checkpoint to the next idle turn of the event loop, a write outside a transaction checkpoints as it ends (as
 * SQLite's automatic checkpoint would), a commit past ten times the threshold checkpoints at once, and nothing is
 * checkpointed inside a transaction. The WAL's state is read from a second, plain connection (`wal_checkpoint(NOOP)`
 * reports the shared WAL: its frames and how many are copied into the database), as another process would see it.
 * Seeded: the rows per transaction are drawn; the seed is in the suite's name, DSYNC_CHECKPOINTS_SEED replays it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { reportsCheckpoints } from '../../src/dialects/sqlite/sqlite-driver.ts';
import { random } from '../helpers/random.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsync-checkpoints-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** sqlite-driver.ts's CHECKPOINT_FRAMES and CHECKPOINT_NOW_FRAMES. */
const DUE = 1000;
const NOW = 10_000;
const SEED = Number(process.env.DSYNC_CHECKPOINTS_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** The next turn of the event loop, after its check phase (where a due checkpoint runs). */
const idle = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

interface Db {
  client: DbClient;
  /** The shared WAL as a second, plain connection reads it. */
  wal(): { frames: number; waiting: number };
}

/** A fresh database `name` with table t, given to `body`, closed after it. */
async function withDb(name: string, body: (db: Db) => Promise<void>): Promise<void> {
  const path = join(dir, `${name}.db`);
  const client = await sqliteDialect.connect(path, 'lite1');
  const other = new Database(path);
  try {
    await client.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)');
    const status = other.prepare('PRAGMA wal_checkpoint(NOOP)');
    await body({
      client,
      wal: () => {
        const { log, checkpointed } = status.get() as { log: number; checkpointed: number };
        return { frames: log, waiting: log - checkpointed };
      },
    });
  } finally {
    other.close();
    await client.close();
  }
}

/** `rows` rows of ~3 KB each (about one WAL frame per row) from `first`, in the statement given. */
const fill = (client: DbClient, first: number, rows: number) =>
  client.query(
    `WITH RECURSIVE g(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM g WHERE i < ?) INSERT INTO t (id, payload) SELECT i, randomblob(3000) FROM g`,
    [first, first + rows - 1],
  );

/**
 * `rounds` transactions of DUE to 3 × DUE rows each (drawn by `next`) in turn, with no idle moment between them;
 * `check` after each commit, with the rows it wrote. Returns how many rows were written.
 */
async function commitRounds(db: Db, next: () => number, rounds: number, check: (round: number, rows: number) => Promise<void>) {
  let first = 1;
  for (let round = 0; round < rounds; round++) {
    const rows = DUE + Math.floor(next() * 2 * DUE);
    await db.client.transaction(async (tx) => {
      await fill(tx, first, rows);
    });
    first += rows;
    await check(round, rows);
  }
  return first - 1;
}

/** Makes the connection's checkpoints fail, as a failing file would: the statement the driver runs them by throws. */
function failCheckpoints(client: DbClient): void {
  const connection = (client as unknown as { connection: { checkpoints: { passive: { get(): unknown } } } }).connection;
  connection.checkpoints.passive = {
    get() {
      throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
    },
  };
}

describe(`SQLite WAL checkpoints (seed ${SEED})`, () => {
  it('a transaction past the threshold leaves its checkpoint to the next idle moment, then it is done', async () => {
    const next = random(SEED);
    await withDb('deferred', async (db) => {
      const written = await commitRounds(db, next, 4, async (round, rows) => {
        // Committed, not yet copied: the commit did not checkpoint.
        expect(db.wal().waiting, `round ${round}`).toBeGreaterThanOrEqual(rows);
        await idle();
        expect(db.wal().waiting, `round ${round}`).toBe(0);
      });
      expect((await db.client.query('SELECT count(*) AS n FROM t')).rows[0].n).toBe(written);
    });
  });

  it('a write outside a transaction past the threshold checkpoints as it ends; one below it leaves the WAL alone', async () => {
    await withDb('autocommit', async (db) => {
      await fill(db.client, 1, DUE / 2);
      expect(db.wal().waiting).toBeGreaterThanOrEqual(DUE / 2);
      await fill(db.client, DUE, DUE);
      expect(db.wal().waiting).toBe(0);
    });
  });

  it('a commit past ten times the threshold checkpoints at once', async () => {
    await withDb('at-once', async (db) => {
      await db.client.transaction(async (tx) => {
        await fill(tx, 1, NOW + 100);
      });
      expect(db.wal().frames).toBeGreaterThan(NOW);
      expect(db.wal().waiting).toBe(0);
    });
  });

  it('commits that follow each other with no idle moment between them keep the WAL under ten times the threshold', async () => {
    const next = random(SEED + 1);
    await withDb('back-to-back', async (db) => {
      // No turn of the event loop between these transactions (better-sqlite3 answers at once): the deferred
      // checkpoint of the first never runs among them, so only the bound keeps the WAL from growing with the pass.
      await commitRounds(db, next, 8, async (round) => {
        expect(db.wal().waiting, `round ${round}`).toBeLessThan(NOW);
      });
      await idle();
      expect(db.wal().waiting).toBe(0);
    });
  });

  it('no checkpoint inside a transaction: the one due waits for the next commit', async () => {
    await withDb('in-transaction', async (db) => {
      await db.client.transaction(async (tx) => {
        await fill(tx, 1, DUE + 200);
      });
      const due = db.wal().waiting;
      expect(due).toBeGreaterThanOrEqual(DUE + 200);
      await db.client.transaction(async (tx) => {
        // The idle moment comes while this transaction is open: nothing is copied then.
        await idle();
        expect(db.wal().waiting).toBeGreaterThanOrEqual(due);
        await fill(tx, DUE + 201, 10);
      });
      await idle();
      expect(db.wal().waiting).toBe(0);
    });
  });
});

describe('SQLite WAL checkpoints that fail', () => {
  it('leave every write that committed reported as committed, and the WAL for later', async () => {
    await withDb('failing', async (db) => {
      failCheckpoints(db.client);
      // A write outside a transaction past the threshold, a commit past ten times it, a commit that defers its checkpoint.
      await fill(db.client, 1, DUE + 10);
      await db.client.transaction(async (tx) => {
        await fill(tx, DUE + 11, NOW);
      });
      await db.client.transaction(async (tx) => {
        await fill(tx, DUE + NOW + 11, 10);
      });
      await idle();
      expect((await db.client.query('SELECT count(*) AS n FROM t')).rows[0].n).toBe(DUE + NOW + 20);
      expect(db.wal().waiting).toBeGreaterThan(NOW);
    });
  });
});

describe('SQLite versions', () => {
  it('runs its own checkpoints only where SQLite reports the WAL without checkpointing (3.51.0 on)', () => {
    expect(['3.45.1', '3.50.4', '3.51.0', '3.53.2', '4.0.0'].map(reportsCheckpoints)).toEqual([false, false, true, true, true]);
  });
});
