/**
 * writeEntries on every live brand, against a model: the import's entries are updated by what
 * moved (version-store.ts UPDATES: the clock-only shape where causal length and base are as read,
 * every column otherwise; table_name given once per table), others are inserted or upserted. Random
 * batches over two tables that share row keys: an entry of one table must never change the other's,
 * an entry said to be there that is not must still be written, and the clock-only shape must never
 * leave a moved causal length or base behind. Seeded; DSYNC_ENTRY_UPDATES_SEED replays a failure.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import type { RowEntry, Version } from '../../src/runtime/import/merge.ts';
import { type EntryWrite, readEntries, writeEntries } from '../../src/runtime/import/version-store.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';

const SEED = Number(process.env.DSYNC_ENTRY_UPDATES_SEED ?? Math.floor(Math.random() * 2 ** 31));
const TABLES = ['sales_order', 'order_line'];
const KEYS = 160;
const ROUNDS = 6;

describe.each(await liveDialects())('version entries written by what moved, %s', (dialect) => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode(dialect);
  }, 120_000);
  afterAll(async () => {
    await node?.close();
  });

  const stored = async (client: DbClient, table: string) =>
    readEntries(
      client,
      table,
      Array.from({ length: KEYS }, (_, k) => `["k${k}"]`),
    );

  it('leaves every entry as the model says, whatever the shape of its write', async () => {
    const next = random(SEED);
    const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)];
    const model = new Map<string, Map<string, RowEntry>>(TABLES.map((t) => [t, new Map()]));
    let clock = 1_000;
    const version = (): Version => ({ time: ++clock, server: pick(['a', 'b', 'c']) });
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const writes: EntryWrite[] = [];
        const written = new Set<string>();
        for (let i = 0; i < 120; i++) {
          const table = pick(TABLES);
          const rowKey = `["k${Math.floor(next() * KEYS)}"]`;
          if (written.has(`${table} ${rowKey}`)) continue;
          written.add(`${table} ${rowKey}`);
          const before = model.get(table)!.get(rowKey);
          const v = version();
          let entry: RowEntry;
          let write: EntryWrite;
          if (!before) {
            entry = { cl: 1, maxVersion: v.time, base: v, columns: {} };
            // In odd rounds now and then an entry said to be there (read, then gone) that is not: it must still land
            // (the batch's entries then all go by upsert, which would hide what the even rounds check: the update's shapes).
            write =
              round % 2 === 1 && next() < 0.15
                ? { table, rowKey, entry, isNew: false, before: entry }
                : { table, rowKey, entry, isNew: true };
          } else {
            const kind = pick(['update', 'update', 'new incarnation', 'stale']);
            const columns = { ...before.columns };
            if (kind === 'update') for (const c of ['quantity', 'description'].filter(() => next() < 0.7)) columns[c] = v;
            entry =
              kind === 'update'
                ? { cl: before.cl, maxVersion: v.time, base: before.base, columns }
                : kind === 'stale'
                  ? { cl: before.cl, maxVersion: Math.max(before.maxVersion, v.time), base: before.base, columns }
                  : { cl: before.cl + 1, maxVersion: v.time, base: v, columns: {} }; // a delete, or an insert after one
            // The import's writes carry what they read; other writers' (the library's, a load's) do not.
            write = { table, rowKey, entry, isNew: false, ...(next() < 0.8 ? { before } : {}) };
          }
          writes.push(write);
          model.get(table)!.set(rowKey, entry);
        }
        await node.client.transaction((tx) => writeEntries(tx, writes, true));
        for (const table of TABLES) {
          const found = await stored(node.client, table);
          expect(Object.fromEntries(found), `round ${round}, ${table}`).toEqual(Object.fromEntries(model.get(table)!));
        }
      }
    } catch (error) {
      console.error(`entry-updates ${dialect}: seed ${SEED} (replay: DSYNC_ENTRY_UPDATES_SEED=${SEED})`);
      throw error;
    }
  }, 120_000);
});
