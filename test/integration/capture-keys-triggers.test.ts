/**
 * Capture mode keys (templates/<dialect>/capture_keys.sql.hbs): the triggers note only the keys
 * of changed rows in the table's notes (ds_key_<table>), spelled as trigger capture spells object_id. Per live
 * dialect, two fresh nodes with the fixture tables: `keys`, every table in mode keys, and
 * `twin`, in trigger mode. Seeded random statements run on both (one- and multi-row inserts,
 * updates that keep or move keys, updates that change nothing, deletes; some in a transaction
 * rolled back, some with capture silenced as the import silences it). After each statement the
 * keys node's new notes must be exactly, byte for byte, the twin's new object_id
 * and object_id_old values: every new key, every old key of a key change, nothing for a
 * rolled-back or silenced write. An update that changes nothing writes no outbox row on the
 * twin but is noted on the keys node (the capture pass finds the row equal to its shadow): its
 * reference is the twin's outbox rows for the same rows really changed, in a transaction
 * rolled back. Then: re-applying the capture files keeps the noted keys, and switching the
 * twin's tables from trigger to keys replaces every capture trigger. The seed is printed;
 * DSYNC_TEST_SEED=<seed> replays it.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config, NodeConfig } from '../../src/config/config.ts';
import type { DbClient, Dialect, DialectName, Row } from '../../src/core/dialect.ts';
import { keyNotesTable } from '../../src/core/safe-name.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { fixtureConfig } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';
import { setUpFixtureNode } from '../helpers/sync-node.ts';

const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 100_000);
const STEPS = 150;
const dialects = await liveDialects();
// PostgreSQL twice: statement-level triggers, and row-level ones (every table with an inheritance
// child, as a partitioned or inherited table gets them: CaptureTable.rowTriggers).
const VARIANTS = [
  ...dialects.map((dialect) => ({ dialect, label: dialect, rowTriggers: false })),
  ...(dialects.includes('postgres')
    ? [{ dialect: 'postgres' as DialectName, label: 'postgres, row-level triggers', rowTriggers: true }]
    : []),
];
const CHILD_TABLES = ['sales_order', 'order_line', 'type_zoo', 'Odd Names'].map(
  (name, i) => `CREATE TABLE ds_test_child_${i} () INHERITS (${JSON.stringify(name)})`,
);

type Key = Array<string | number>;

interface TableSpec {
  name: string;
  keyColumns: string[];
  /** A column every update may set to a fresh value (never a key column); an insert fills it too (order_line's is NOT NULL). */
  valueColumn: string;
  /** The keys rows may have. */
  pool: Key[];
  /** The n-th fresh value of valueColumn: every update that sets it changes it. */
  fresh: (n: number) => string | number;
}

// Text keys with what JSON escapes (quote, backslash, tab, control characters MariaDB's key fix
// rewrites: JSON_QUOTE spells \u001F where object_id has \u001f), a non-BMP character and a
// non-ASCII one; never two that differ only in case or trailing spaces (MariaDB's collation
// would take them for one key).
const TEXT_KEYS = ['a1', 'b"2', 'c\\3', 'd\t4', 'e\u001f5', 'f😀6', 'g é7', 'h/8', 'i9', 'j10', 'k11', 'l\u000b12'];
const TABLES: TableSpec[] = [
  { name: 'sales_order', keyColumns: ['order_id'], valueColumn: 'description', pool: TEXT_KEYS.map((k) => [k]), fresh: (n) => `d${n}` },
  {
    name: 'order_line',
    keyColumns: ['order_id', 'line_no'],
    valueColumn: 'product',
    pool: TEXT_KEYS.slice(0, 4).flatMap((k) => [1, 2, 3].map((n) => [k, n])),
    fresh: (n) => `p${n}`,
  },
  {
    name: 'type_zoo',
    keyColumns: ['id'],
    valueColumn: 'c_int',
    pool: [-3, -1, 0, 1, 2, 7, 42, 1000, 65536, 2147483000, 11, 12].map((k) => [k]),
    fresh: (n) => n,
  },
  {
    name: 'Odd Names',
    keyColumns: ['Key Col'],
    valueColumn: 'select',
    pool: Array.from({ length: 12 }, (_, i) => [i + 1]),
    fresh: (n) => `s${n}`,
  },
];

interface Node {
  db: TestDatabase;
  config: Config;
  node: NodeConfig;
  dialect: Dialect;
  client: DbClient;
  generatedDir: string;
}

/** A fresh node with the fixture tables, every table in capture mode `mode` (a node-level override, as docs/config.md has it). */
async function createNode(dialectName: DialectName, mode: 'keys' | 'trigger', extraDdl: readonly string[] = []): Promise<Node> {
  const db = await createTestDatabase(dialectName);
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-keys-'));
  const config = fixtureConfig({ [dialectName]: db.url }, generatedDir);
  const node = setMode(config, dialectName, mode);
  const dialect = await getDialect(dialectName);
  const client = await dialect.connect(node.url, node.name);
  await setUpFixtureNode(config, node, dialect, client, generatedDir, extraDdl);
  return { db, config, node, dialect, client, generatedDir };
}

function setMode(config: Config, nodeName: string, mode: 'keys' | 'trigger'): NodeConfig {
  config.nodes[nodeName] = { ...config.nodes[nodeName], capture: Object.fromEntries(config.tables.map((t) => [t.name, mode])) };
  return config.nodes[nodeName];
}

/** Regenerates the node's files and applies them (the replaceable capture files re-run when they changed). */
async function regenerateAndApply(n: Node): Promise<void> {
  const schemas = await introspectTables(n.config, n.dialect, n.client);
  writeFiles(join(n.generatedDir, n.node.name), generateNode(n.config, n.node, n.dialect, schemas));
  await applyNode(n.config, n.node, n.dialect, n.client);
}

async function maxId(client: DbClient, table: string): Promise<number> {
  const { rows } = await client.query<Row>(`SELECT max(id) AS id FROM ${table}`);
  return Number(rows[0].id ?? 0);
}

/** Each table's newest note id (0 when none): what notedKeys reads after. */
async function noteMark(client: DbClient, tables = TABLES.map((t) => t.name)): Promise<Map<string, number>> {
  const mark = new Map<string, number>();
  for (const t of tables) mark.set(t, await maxId(client, client.dialect.sql.ident(keyNotesTable(t))));
  return mark;
}

/** The notes after `after` of each table (ds_key_<table>), table by table in TABLES' order, each in id order. */
async function notedKeys(
  client: DbClient,
  after: Map<string, number> | 0,
  tables = TABLES.map((t) => t.name),
): Promise<Array<{ table: string; key: string }>> {
  const noted: Array<{ table: string; key: string }> = [];
  for (const t of tables) {
    const from = after === 0 ? 0 : (after.get(t) ?? 0);
    const { rows } = await client.query<Row>(
      `SELECT row_key FROM ${client.dialect.sql.ident(keyNotesTable(t))} WHERE id > ${from} ORDER BY id`,
    );
    noted.push(...rows.map((r) => ({ table: t, key: String(r.row_key) })));
  }
  return noted;
}

/** object_id and object_id_old of the outbox rows after `after`, as the trigger capture wrote them. */
async function outboxKeys(client: DbClient, after: number): Promise<Array<{ table: string; key: string }>> {
  const { rows } = await client.query<Row>(
    `SELECT object_table, object_id, object_id_old FROM ds_change_outbox WHERE id > ${after} ORDER BY id`,
  );
  return rows.flatMap((r) =>
    [r.object_id, r.object_id_old]
      .filter((k) => k !== null && k !== undefined)
      .map((k) => ({ table: String(r.object_table), key: String(k) })),
  );
}

const keySet = (rows: Array<{ table: string; key: string }>) => [...new Set(rows.map((r) => `${r.table}\u0000${r.key}`))].sort();

class Rollback extends Error {}

describe.each(VARIANTS)('capture mode keys on $label', ({ dialect: dialectName, label, rowTriggers }) => {
  let keys: Node;
  let twin: Node;
  beforeAll(async () => {
    const extraDdl = rowTriggers ? CHILD_TABLES : [];
    [keys, twin] = await Promise.all([createNode(dialectName, 'keys', extraDdl), createNode(dialectName, 'trigger', extraDdl)]);
    if (rowTriggers) {
      const { rows } = await keys.client.query<Row>(
        `SELECT count(*) AS n FROM pg_trigger WHERE tgname LIKE 'ds\\_%' AND NOT tgisinternal AND tgtype & 1 = 1`,
      );
      expect(Number(rows[0].n)).toBe(3 * 4);
    }
  }, 180_000);
  afterAll(async () => {
    for (const n of [keys, twin]) {
      if (!n) continue;
      await n.client.close().catch(() => undefined);
      await n.db.drop();
      rmSync(n.generatedDir, { recursive: true, force: true });
    }
  });

  const sql = () => keys.dialect.sql;
  const lit = (v: string | number) => sql().literal(v);
  const ident = (name: string) => sql().ident(name);
  const keyPred = (t: TableSpec, k: Key) => `(${t.keyColumns.map((c, i) => `${ident(c)} = ${lit(k[i])}`).join(' AND ')})`;
  const anyOf = (t: TableSpec, ks: Key[]) => ks.map((k) => keyPred(t, k)).join(' OR ');

  it(`notes exactly the keys trigger capture would send, spelled as its object_id (seed ${SEED})`, async () => {
    console.log(`capture-keys-triggers ${label}: seed ${SEED} (DSYNC_TEST_SEED=${SEED} replays)`);
    const rnd = random(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const pick = <T>(items: T[], n: number): T[] => {
      const copy = [...items];
      for (let i = copy.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [copy[i], copy[j]] = [copy[j], copy[i]];
      }
      return copy.slice(0, n);
    };
    const present = new Map(TABLES.map((t) => [t.name, new Map<string, Key>()]));
    let counter = 0;
    const seen = { insert: 0, update: 0, move: 0, noop: 0, delete: 0, rolledBack: 0, silenced: 0 };

    // One random write on table t: its SQL, how it changes the model, and for an update that
    // changes nothing the SQL that changes the same rows (the twin's reference, rolled back).
    const write = (t: TableSpec) => {
      const here = present.get(t.name)!;
      const rows = [...here.values()];
      const absent = t.pool.filter((k) => !here.has(JSON.stringify(k)));
      const roll = rnd();
      const n = int(1, 4);
      if ((roll < 0.3 || rows.length === 0) && absent.length > 0) {
        const ks = pick(absent, Math.min(n, absent.length));
        const columns = [...t.keyColumns, t.valueColumn].map(ident).join(', ');
        const values = ks.map((k) => `(${[...k, t.fresh(++counter)].map(lit).join(', ')})`).join(', ');
        return {
          kind: 'insert' as const,
          sql: `INSERT INTO ${ident(t.name)} (${columns}) VALUES ${values}`,
          apply: () => ks.forEach((k) => here.set(JSON.stringify(k), k)),
        };
      }
      if (rows.length === 0) return null;
      const ks = pick(rows, Math.min(n, rows.length));
      if (roll < 0.5) {
        return {
          kind: 'update' as const,
          sql: `UPDATE ${ident(t.name)} SET ${ident(t.valueColumn)} = ${lit(t.fresh(++counter))} WHERE ${anyOf(t, ks)}`,
          apply: () => undefined,
        };
      }
      if (roll < 0.65 && absent.length > 0) {
        // Rows moved to keys no row has: one key column or all of them, the value too sometimes.
        // A composite key moves one row at a time: MariaDB's SET reads the columns it already set,
        // so a CASE over the old key would not find it in the second column's assignment.
        const moved = ks.slice(0, Math.min(t.keyColumns.length > 1 ? 1 : ks.length, absent.length));
        const targets = pick(absent, moved.length);
        const sets = t.keyColumns.map((c, i) =>
          moved.length === 1
            ? `${ident(c)} = ${lit(targets[0][i])}`
            : `${ident(c)} = CASE ${moved.map((k, j) => `WHEN ${keyPred(t, k)} THEN ${lit(targets[j][i])}`).join(' ')} ELSE ${ident(c)} END`,
        );
        if (rnd() < 0.5) sets.push(`${ident(t.valueColumn)} = ${lit(t.fresh(++counter))}`);
        return {
          kind: 'move' as const,
          sql: `UPDATE ${ident(t.name)} SET ${sets.join(', ')} WHERE ${anyOf(t, moved)}`,
          apply: () => {
            for (const k of moved) here.delete(JSON.stringify(k));
            for (const k of targets) here.set(JSON.stringify(k), k);
          },
        };
      }
      if (roll < 0.8) {
        return {
          kind: 'noop' as const,
          sql: `UPDATE ${ident(t.name)} SET ${ident(t.valueColumn)} = ${ident(t.valueColumn)} WHERE ${anyOf(t, ks)}`,
          reference: `UPDATE ${ident(t.name)} SET ${ident(t.valueColumn)} = ${lit(t.fresh(++counter))} WHERE ${anyOf(t, ks)}`,
          apply: () => undefined,
        };
      }
      return {
        kind: 'delete' as const,
        sql: `DELETE FROM ${ident(t.name)} WHERE ${anyOf(t, ks)}`,
        apply: () => ks.forEach((k) => here.delete(JSON.stringify(k))),
      };
    };

    for (let step = 0; step < STEPS; step++) {
      const t = TABLES[int(0, TABLES.length - 1)];
      const w = write(t);
      if (!w) continue;
      const mode = rnd();
      const where = `step ${step} (${w.kind}${mode < 0.12 ? ', rolled back' : mode < 0.24 ? ', silenced' : ''}): ${w.sql}`;
      const keysBefore = await noteMark(keys.client);
      const twinBefore = await maxId(twin.client, 'ds_change_outbox');
      let expected: Array<{ table: string; key: string }>;
      if (mode < 0.12) {
        // In a transaction rolled back: nothing noted, nothing changed.
        for (const n of [keys, twin]) {
          await n.client
            .transaction(async (tx) => {
              await tx.query(w.sql);
              throw new Rollback();
            })
            .catch((error) => {
              if (!(error instanceof Rollback)) throw error;
            });
        }
        expected = [];
        seen.rolledBack++;
      } else if (mode < 0.24) {
        // Silenced as the import silences capture for its own writes: the rows change, nothing is noted.
        for (const n of [keys, twin]) {
          await n.client.transaction(async (tx) => {
            await tx.dialect.silenceCapture(tx, true);
            await tx.query(w.sql);
          });
        }
        w.apply();
        expected = [];
        seen.silenced++;
      } else {
        if (w.kind === 'noop') {
          // The twin's outbox rows for the same rows really changed, then rolled back.
          let reference: Array<{ table: string; key: string }> = [];
          await twin.client
            .transaction(async (tx) => {
              await tx.query(w.reference);
              reference = await outboxKeys(tx, twinBefore);
              throw new Rollback();
            })
            .catch((error) => {
              if (!(error instanceof Rollback)) throw error;
            });
          await twin.client.query(w.sql);
          expect(await outboxKeys(twin.client, twinBefore), `${where}: the twin sends nothing`).toEqual([]);
          expected = reference;
        } else {
          await twin.client.query(w.sql);
          expected = await outboxKeys(twin.client, twinBefore);
        }
        await keys.client.query(w.sql);
        w.apply();
        seen[w.kind]++;
      }
      const noted = await notedKeys(keys.client, keysBefore);
      expect(keySet(noted), where).toEqual(keySet(expected));
      // One row per key and statement (the statement-level UNION, the row-level old-key check).
      expect(noted.length, `${where}: no key twice`).toBe(keySet(noted).length);
      expect(await maxId(keys.client, 'ds_change_outbox'), `${where}: keys mode writes no outbox row`).toBe(0);
    }
    console.log(`capture-keys-triggers ${label}: ${JSON.stringify(seen)}`);
    expect(seen.insert + seen.update + seen.move + seen.delete).toBeGreaterThan(10);
  }, 240_000);

  it('keeps the noted keys when the capture files are applied again, and still notes keys after', async () => {
    const t = TABLES[3];
    const before = await notedKeys(keys.client, 0);
    await keys.client.query(`INSERT INTO ${ident(t.name)} (${ident('Key Col')}) VALUES (${lit(9001)})`);
    // Forget that the capture files were applied, so apply runs them again.
    const files = readdirSync(join(keys.generatedDir, keys.node.name)).filter((f) => /^01\d\d_capture_/.test(f));
    expect(files).toHaveLength(TABLES.length);
    await keys.client.query(`DELETE FROM ds_schema_migrations WHERE ${ident('file')} IN (${files.map(lit).join(', ')})`);
    const result = await applyNode(keys.config, keys.node, keys.dialect, keys.client);
    expect(result.steps.filter((s) => s.status === 'applied').map((s) => s.file)).toHaveLength(TABLES.length);
    const after = await notedKeys(keys.client, 0);
    expect(after).toEqual([...before, { table: t.name, key: '9001' }]);
    await keys.client.query(`DELETE FROM ${ident(t.name)} WHERE ${ident('Key Col')} = ${lit(9001)}`);
    expect((await notedKeys(keys.client, 0)).slice(after.length)).toEqual([{ table: t.name, key: '9001' }]);
  }, 120_000);

  it('replaces trigger capture when a table switches to keys: no outbox row, the keys noted', async () => {
    setMode(twin.config, twin.node.name, 'keys');
    twin.node = twin.config.nodes[twin.node.name];
    await regenerateAndApply(twin);
    const t = TABLES[1];
    const outboxBefore = await maxId(twin.client, 'ds_change_outbox');
    await twin.client.query(
      `INSERT INTO ${ident(t.name)} (order_id, line_no, product) VALUES (${lit('zz')}, ${lit(1)}, ${lit('p')}), (${lit('zz')}, ${lit(2)}, ${lit('p')})`,
    );
    await twin.client.query(`UPDATE ${ident(t.name)} SET line_no = line_no + 10 WHERE order_id = ${lit('zz')}`);
    await twin.client.query(`DELETE FROM ${ident(t.name)} WHERE order_id = ${lit('zz')}`);
    expect(await maxId(twin.client, 'ds_change_outbox')).toBe(outboxBefore);
    const noted = (await notedKeys(twin.client, 0, [t.name])).map((r) => r.key);
    const k = (n: number) => `{"order_id":"zz","line_no":${n}}`;
    const sorted = (keys: string[]) => [...keys].sort();
    expect(sorted(noted.slice(0, 2))).toEqual(sorted([k(1), k(2)]));
    expect(sorted(noted.slice(2, 6))).toEqual(sorted([k(1), k(2), k(11), k(12)]));
    expect(sorted(noted.slice(6))).toEqual(sorted([k(11), k(12)]));
  }, 120_000);
});
