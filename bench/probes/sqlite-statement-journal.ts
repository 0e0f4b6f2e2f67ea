/**
 * Probe: which SQLite writes keep a statement journal, and what it costs. Inside a transaction,
 * a statement that may write several rows and may abort halfway (SQLite's `isMultiWrite &&
 * mayAbort`) copies every page it changes first, so that it alone can be undone; with
 * `temp_store = MEMORY` (dsync's) that copy is in the process's memory, else past 64 KiB in a
 * temporary file. Each variant below runs one statement that changes CHANGED random rows of a
 * table of ROWS rows, on a fresh file, and prints its time and how far the process's peak RSS
 * rose above the RSS before it (Linux: the peak is reset through /proc/self/clear_refs):
 *
 *   npx tsx bench/probes/sqlite-statement-journal.ts [ROWS=200000] [CHANGED=10000]
 *
 * No database server is needed. docs/performance.md, "the twenty-fifth session", has a run.
 * https://www.sqlite.org/tempfiles.html#stmtjrnl
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const rows = Number(process.argv[2] ?? 200_000);
const changed = Number(process.argv[3] ?? 10_000);

interface Variant {
  name: string;
  /** A trigger on t, if any (its WHEN is false: it never fires, as dsync's silenced capture triggers). */
  trigger?: string;
  sql: string;
}

const TABLE_SET = 'FROM temp.s WHERE t.id = s.k';
const upsert = (or: string) =>
  `INSERT ${or}INTO e (table_name, row_key, cl, max_version) SELECT 't', CAST(k AS TEXT), 3, v FROM temp.s WHERE true
   ON CONFLICT (table_name, row_key) DO UPDATE SET cl = excluded.cl, max_version = excluded.max_version`;
const silentTrigger = (body: string) => `CREATE TRIGGER t_upd AFTER UPDATE ON t WHEN (SELECT capture FROM flag) = 'on' BEGIN ${body}; END`;
const CALLING = silentTrigger(`INSERT INTO log VALUES (json_object('id', new.id))`);

const VARIANTS: Variant[] = [
  { name: 'a nullable column set to a value', sql: `UPDATE t SET b = s.v ${TABLE_SET}` },
  { name: 'a NOT NULL column (its check may abort)', sql: `UPDATE t SET a = s.v ${TABLE_SET}` },
  { name: 'a NOT NULL column, UPDATE OR FAIL', sql: `UPDATE OR FAIL t SET a = s.v ${TABLE_SET}` },
  { name: 'a nullable column set by a function call', sql: `UPDATE t SET b = json_extract(s.j, '$.v') ${TABLE_SET}` },
  {
    name: 'a silent trigger, its body no function call',
    trigger: silentTrigger('INSERT INTO log VALUES (new.id)'),
    sql: `UPDATE t SET b = s.v ${TABLE_SET}`,
  },
  {
    name: 'a silent trigger whose body calls a function',
    trigger: CALLING,
    sql: `UPDATE t SET b = s.v ${TABLE_SET}`,
  },
  {
    name: 'the same, UPDATE OR FAIL',
    trigger: CALLING,
    sql: `UPDATE OR FAIL t SET b = s.v ${TABLE_SET}`,
  },
  { name: 'an upsert of entries (ON CONFLICT DO UPDATE)', sql: upsert('') },
  { name: 'the same, INSERT OR FAIL', sql: upsert('OR FAIL ') },
];

const statusMb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

function run(variant: Variant, dir: string): { ms: number; riseMb: number } {
  const file = join(dir, 'journal.db');
  for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('temp_store = MEMORY');
    db.pragma('cache_size = -2000');
    db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER, c TEXT);
      CREATE TABLE e (table_name TEXT NOT NULL, row_key TEXT NOT NULL, cl INTEGER NOT NULL, max_version INTEGER NOT NULL,
        PRIMARY KEY (table_name, row_key)) WITHOUT ROWID;
      CREATE TABLE log (x); CREATE TABLE flag (capture TEXT); INSERT INTO flag VALUES ('off');
      CREATE TEMP TABLE s (k INTEGER, v INTEGER, j TEXT)`);
    if (variant.trigger) db.exec(variant.trigger);
    const row = db.prepare('INSERT INTO t VALUES (?, ?, ?, ?)');
    const entry = db.prepare(`INSERT INTO e VALUES ('t', ?, 1, ?)`);
    const stage = db.prepare('INSERT INTO temp.s VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < rows; i++) {
        row.run(i, i, i, 'x'.repeat(50));
        entry.run(String(i), i);
      }
      // Keys drawn with a fixed generator (32-bit xorshift): every run changes the same rows.
      let x = 2463534242;
      const keys = new Set<number>();
      while (keys.size < Math.min(changed, rows)) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        keys.add((x >>> 0) % rows);
      }
      for (const k of keys) stage.run(k, k + 1, JSON.stringify({ v: k + 1 }));
    })();
    db.exec('BEGIN');
    writeFileSync('/proc/self/clear_refs', '5');
    const before = statusMb('VmRSS');
    const start = process.hrtime.bigint();
    db.exec(variant.sql);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    const riseMb = statusMb('VmHWM') - before;
    db.exec('COMMIT');
    return { ms, riseMb };
  } finally {
    db.close();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'dsync-journal-'));
try {
  console.log(
    `${changed.toLocaleString('en-US')} random rows of ${rows.toLocaleString('en-US')} changed by one statement in a transaction:`,
  );
  for (const variant of VARIANTS) {
    const { ms, riseMb } = run(variant, dir);
    console.log(`  ${variant.name.padEnd(48)} ${ms.toFixed(0).padStart(5)} ms, peak RSS +${riseMb.toFixed(1)} MB`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
