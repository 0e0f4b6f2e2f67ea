/**
 * The version store's entry of a row is the point where two writers that decided on the
 * same key without seeing each other meet: a load (or another import) that stores a new
 * entry and an import that stores one for a key it found empty. The later of the two must
 * fail on the entry's key and plan again, never overwrite the other's decision (docs/
 * onboarding.md "Why a load is safe"). Here a delete reaches the import while a load-like
 * writer holds the row and its entry uncommitted: the delete must win once both commit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { NO_VERSION } from '../../src/runtime/import/merge.ts';
import { writeEntries } from '../../src/runtime/import/version-store.ts';
import { runProgramOnce } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const targets = (await liveDialects()).filter((d) => d === 'postgres' || d === 'mysql');

describe.each(targets)('an import and a concurrent load of one key, postgres → %s', (to) => {
  let pair: SyncPair;
  let loader: DbClient;
  beforeAll(async () => {
    pair = await createSyncPair('postgres', to);
    loader = await pair.b.dialect.connect(pair.config.nodes.b.url, 'b');
  });
  afterAll(async () => {
    await loader?.close();
    await pair?.close();
  });

  it('a delete of a row the load is writing wins once both commit (the later entry write fails and plans again)', async () => {
    const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('race-1', 1)");
    await pair.a.client.exec("DELETE FROM sales_order WHERE order_id = 'race-1'");
    await runProgramOnce(pair.config, pair.nodes, program(1000));
    // Only the delete reaches b's import: b never saw the insert, as when a load is to bring the row.
    await pair.b.client.exec("DELETE FROM ds_change_inbox WHERE object_operation = 'I'");

    const rowKey = canonicalKeyText(pair.tables.b.sales_order, { order_id: 'race-1' });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let written!: () => void;
    const ready = new Promise<void>((resolve) => (written = resolve));
    // The load's chunk: the source's row (read before the delete) and its entry, not yet committed.
    const loading = loader.transaction(async (tx) => {
      await tx.dialect.silenceCapture(tx, true);
      await tx.query("INSERT INTO sales_order (order_id, quantity) VALUES ('race-1', 1)");
      await writeEntries(tx, [
        { table: 'sales_order', rowKey, entry: { cl: 1, maxVersion: 0, base: NO_VERSION, columns: {} }, isNew: true },
      ]);
      written();
      await gate;
    });
    await ready;
    const importing = runProgramOnce(pair.config, pair.nodes, program(1001));
    await new Promise((resolve) => setTimeout(resolve, 500));
    release();
    await loading;
    await importing;
    await pair.forward();

    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE order_id = 'race-1'")).toBe(0);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')")).toBe(0);
    const { rows } = await pair.b.client.query<{ cl: unknown }>(
      `SELECT cl FROM ds_row_version WHERE table_name = 'sales_order' AND row_key = ${pair.b.dialect.sql.param(1)}`,
      [rowKey],
    );
    expect(rows.map((r) => Number(r.cl))).toEqual([2]);
  }, 60_000);
});
