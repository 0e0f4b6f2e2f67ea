/**
 * Both ways at once: application writers on both nodes change the same few rows, in
 * transactions held open across dsync's passes and some rolled back, while both transports and
 * both imports run all along. The import's reads and writes meet the writers' locks (MariaDB's
 * gap locks, PostgreSQL's absent keys, SQLite's one writer): nothing may deadlock for good,
 * park, wait in ds_change_pending or stay apart, and both nodes end with the same rows. In
 * trigger mode, the default, on four brand pairs; then with node a in capture mode log, where
 * the import captures the log before it merges (captureLogBeforeMerge). Seeded: the seed is in
 * the test's name; DSYNC_SEED=<seed> replays the writers' choices (not the interleaving, which
 * the machine decides).
 */
import { afterAll, describe, it } from 'vitest';
import type { DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import {
  expectSettledAndEqual,
  movingBothWays,
  sharedRowsWriter,
  writerSessions,
  writeWhileMoving,
} from '../helpers/concurrent-writers.ts';
import { liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { type PrivatePostgres, postgresBinDir, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const SEED = Number(process.env.DSYNC_SEED ?? Date.now() % 100_000);
const PAIRS = (
  [
    ['postgres', 'mysql'],
    ['postgres', 'postgres'],
    ['mysql', 'sqlite'],
    ['postgres', 'sqlite'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

describe.each(PAIRS)('trigger mode both ways with writers on both nodes, %s ↔ %s', (from, to) => {
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
  });

  it(`seed ${SEED}: both nodes end with the same rows`, { timeout: 300_000 }, async () => {
    pair = await createSyncPair(from, to, 'latest-wins');
    await writeWhileMoving(
      await writerSessions(pair),
      movingBothWays(pair), // no pass-captured table: its passes find nothing to do
      sharedRowsWriter(SEED),
    );
    await expectSettledAndEqual(pair, SEED);
  });
});

// The same with the mover pausing 500 ms between rounds and batches of up to 1,000 changes: what piles
// up meanwhile arrives in batches of more than 63 changes, which a PostgreSQL target writes with its
// version entries beside its table writes (apply-batch.ts), while the writers hold the same rows.
describe.each(PAIRS.filter((pair) => pair.includes('postgres')))(
  'trigger mode both ways in large batches with writers on both nodes, %s ↔ %s',
  (from, to) => {
    let pair: SyncPair;
    afterAll(async () => {
      await pair?.close();
    });

    it(`seed ${SEED}: both nodes end with the same rows`, { timeout: 300_000 }, async () => {
      pair = await createSyncPair(from, to, 'latest-wins', { batchSize: 1000 });
      await writeWhileMoving(await writerSessions(pair), movingBothWays(pair), sharedRowsWriter(SEED, 300), 500);
      await expectSettledAndEqual(pair, SEED);
    });
  },
);

// The same with node a's order_line in capture mode log, on a private cluster with
// wal_level=logical: a's capture passes run every fourth round only, so the import into a
// mostly meets local changes no pass has read from the log yet.
describe.runIf(postgresBinDir() !== undefined)('capture mode log both ways with writers on both nodes, postgres ↔ postgres', () => {
  let cluster: PrivatePostgres | undefined;
  let pair: SyncPair;
  afterAll(async () => {
    await pair?.close();
    await cluster?.destroy();
  });

  it(`seed ${SEED}: both nodes end with the same rows`, { timeout: 300_000 }, async () => {
    cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
    const database = async (name: string): Promise<TestDatabase> => ({
      dialect: 'postgres',
      url: await cluster!.createDatabase(name),
      embedded: false,
      drop: async () => undefined,
    });
    pair = await createSyncPair('postgres', 'postgres', 'latest-wins', {
      logTables: ['order_line'],
      databases: [await database('log_a'), await database('log_b')],
    });
    const sessions = await Promise.all(
      [pair.a, pair.a, pair.b, pair.b].map(async (handle) => (await getDialect('postgres')).connect(handle.node.url, handle.node.name)),
    );
    await writeWhileMoving(sessions, movingBothWays(pair), sharedRowsWriter(SEED));
    await expectSettledAndEqual(pair, SEED);
  });
});
