/**
 * PostgreSQL's statement-level capture writes a statement's outbox rows without reading each
 * row's version entry back when the upsert gave every entry the same cl and version (v_mixed in
 * templates/postgres/capture.sql.hbs; docs/performance.md, "Issue 13, PostgreSQL capture: the
 * outbox rows without the entry read-back"). The read-back path it skips took each outbox row's
 * row_cl and change_version from the entry as the upsert left it, so that is the reference here:
 * seeded random multi-row INSERTs, UPDATEs (some rows unchanged) and DELETEs over a small key
 * pool, with entries pushed ahead of the clock and keys deleted and re-inserted so that some
 * statements' entries differ and some agree; after every statement each of its outbox rows must
 * carry its entry's cl and version, in the statement's row order, one per changed row, and each
 * entry's col_versions must be its stamps so far (an update of an entry whose col_versions is {}
 * writes the update's stamps as they are, without the jsonb merge). The seed is printed;
 * DSYNC_TEST_SEED=<seed> replays it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/core/dialect.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncNode, lastOutboxId, outboxRows, type SyncNode } from '../helpers/sync-node.ts';

const live = (await liveDialects()).includes('postgres');
const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
const STEPS = 300;

describe.runIf(live)('postgres capture: outbox rows without the entry read-back', () => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode('postgres');
  }, 120_000);
  afterAll(async () => node?.close());

  it(`gives every outbox row its entry's cl and version, entries alike or not (seed ${SEED})`, async () => {
    const rnd = random(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const sample = <T>(items: T[], n: number) => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy.slice(0, n);
    };
    // A fresh pool of 30 keys every 60 steps: new keys' first inserts are the statements whose entries
    // are alike (each cl 1), which grow rare as a pool's keys age; without fresh ones a seed could
    // take that path too rarely for the check at the end.
    let pool: string[] = [];
    const present = new Set<string>();
    // Each key's col_versions as the contract has it: {} after an insert or delete, then each changed
    // column stamped [version, server] by every update.
    const stamps = new Map<string, Record<string, [number, string]>>();
    const seen = { alike: 0, mixed: 0 };

    for (let step = 0; step < STEPS; step++) {
      if (step % 60 === 0) {
        pool = Array.from({ length: 30 }, (_, i) => `u${step / 60}-${String(i).padStart(2, '0')}`);
        present.clear(); // the old pool's rows stay, untouched from now on
      }
      const roll = rnd();
      if (roll < 0.12) {
        // Entries ahead of the clock (another node's later change): their next version is theirs + 1.
        const keys = sample(pool, int(1, 4)).map((k) => JSON.stringify(k));
        await node.client.query(
          `UPDATE ds_row_version SET max_version = $1 + (random() * 1000)::bigint WHERE table_name = 'sales_order' AND row_key = ANY($2)`,
          [Date.now() * 1000 + 3_600_000_000, keys],
        );
        continue;
      }
      const absent = pool.filter((k) => !present.has(k));
      const here = [...present];
      const before = await lastOutboxId(node.client);
      let expected: { op: string; keys: string[] };
      if (roll < 0.45 && absent.length > 0) {
        const keys = sample(absent, int(1, Math.min(8, absent.length)));
        const values = keys.map((_, i) => `($${i + 1}, ${int(0, 9)}, 'd${step}')`).join(', ');
        await node.client.query(`INSERT INTO sales_order (order_id, quantity, description) VALUES ${values}`, keys);
        for (const k of keys) present.add(k);
        expected = { op: 'I', keys };
      } else if (roll < 0.8 && here.length > 0) {
        // Some rows of the statement change nothing (no outbox row, no entry written).
        const keys = sample(here, int(1, Math.min(8, here.length)));
        const changed = keys.filter(() => rnd() < 0.8);
        await node.client.query(
          `UPDATE sales_order SET description = CASE WHEN order_id = ANY($2) THEN $3 ELSE description END
           WHERE order_id = ANY($1)`,
          [keys, changed, `s${step}`],
        );
        expected = { op: 'U', keys: changed };
      } else if (here.length > 0) {
        const keys = sample(here, int(1, Math.min(8, here.length)));
        await node.client.query('DELETE FROM sales_order WHERE order_id = ANY($1)', [keys]);
        for (const k of keys) present.delete(k);
        expected = { op: 'D', keys };
      } else {
        continue;
      }

      const rows = await outboxRows(node.client, before);
      expect(rows.map((r) => r.op)).toEqual(expected.keys.map(() => expected.op));
      if (expected.op === 'I') expect(rows.map((r) => r.key)).toEqual(expected.keys);
      else expect(rows.map((r) => String(r.key)).sort()).toEqual([...expected.keys].sort());
      const { rows: entries } = await node.client.query<Row>(
        `SELECT row_key, cl, max_version, col_versions FROM ds_row_version WHERE table_name = 'sales_order' AND row_key = ANY($1)`,
        [rows.map((r) => JSON.stringify(r.key))],
      );
      const byKey = new Map(entries.map((e) => [String(e.row_key), [Number(e.cl), Number(e.max_version)]]));
      const colVersions = new Map(
        entries.map((e) => {
          const parsed = JSON.parse(String(e.col_versions)) as Record<string, [unknown, string]>;
          return [String(e.row_key), Object.fromEntries(Object.entries(parsed).map(([c, [v, srv]]) => [c, [Number(v), srv]]))];
        }),
      );
      for (const r of rows) {
        expect([r.rowCl, r.changeVersion], `step ${step} ${r.op} ${r.key}`).toEqual(byKey.get(JSON.stringify(r.key)));
        const before = r.op === 'U' ? (stamps.get(String(r.key)) ?? {}) : {};
        stamps.set(String(r.key), r.op === 'U' ? { ...before, description: [r.changeVersion!, r.server!] } : {});
        expect(colVersions.get(JSON.stringify(r.key)), `step ${step} ${r.op} ${r.key} col_versions`).toEqual(stamps.get(String(r.key)));
      }
      if (rows.length > 1) {
        const alike = new Set(rows.map((r) => `${r.rowCl}/${r.changeVersion}`)).size === 1;
        seen[alike ? 'alike' : 'mixed']++;
      }
    }
    // col_versions keeps jsonb's own spelling, whichever way the update wrote it.
    const { rows: spelled } = await node.client.query<Row>(
      `SELECT count(*) AS n FROM ds_row_version WHERE table_name = 'sales_order' AND col_versions <> col_versions::jsonb::text`,
    );
    expect(Number(spelled[0].n)).toBe(0);
    // Both paths were taken often enough to mean something.
    expect(seen.alike).toBeGreaterThan(5);
    expect(seen.mixed).toBeGreaterThan(5);
  }, 120_000);
});
