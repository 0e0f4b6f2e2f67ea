/**
 * One chunk of a load, in one target transaction: the target's entries (locked) and rows
 * of a key range; then the source's entries of those keys and then its rows of the range
 * (two statements, in that order); then the merge, written with the load's state. Why
 * these orders (docs/onboarding.md "Why a load is safe while the source takes writes"):
 * a source entry is never newer than the row read with it, even where each statement
 * sees its own snapshot (PostgreSQL's READ COMMITTED), and every change the target's
 * import applied before is already in what the source gives.
 */
import type { ConflictPolicy } from '../../config/config.ts';
import type { CanonicalValue } from '../../core/canonical.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ValueMap } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';
import { RangeReader, type KeyValues } from '../../verify/range-reader.ts';
import { updateRow } from '../import/dml.ts';
import { NO_VERSION, type RowEntry } from '../import/merge.ts';
import { writeRows } from '../import/row-writer.ts';
import { encodeColumns, readEntries, writeEntries, type EntryWrite } from '../import/version-store.ts';
import { ClientSlot } from './client-slot.ts';
import { type LoadPlan, planLoadRow, type Resolution } from './load-plan.ts';
import { bareName } from '../../core/table-ref.ts';

const ENTRY_COLUMNS = ['table_name', 'row_key', 'cl', 'max_version', 'base_version', 'base_server', 'col_versions'];
const NEUTRAL_ENTRY: RowEntry = { cl: 1, maxVersion: 0, base: NO_VERSION, columns: {} };

/** One side of the load: a client slot, its table, and readers of the copied columns. */
export class LoadSideReader {
  /** The table has had version entries on this side (see readSourceRows). */
  entriesSeen = false;
  /**
   * The table had no entry on this side when last probed, and no rows were read since (set
   * by probeEntries): the next rows read may take that probe for theirs. Any probe before
   * the rows read keeps an entry never newer than its row (no entry is the oldest).
   */
  private probedNone = false;

  private constructor(
    readonly slot: ClientSlot,
    readonly table: TableSchema,
    readonly columns: string[],
    private readonly keys: RangeReader,
    private readonly rows: RangeReader,
  ) {}

  /** `lockRows`: the rows read are locked (a receive-only target's, whose import locks no entry: see mergeChunk). */
  static async open(client: DbClient, table: TableSchema, columns: string[], lockless: boolean, lockRows = false): Promise<LoadSideReader> {
    const slot = new ClientSlot(client, lockless);
    const side = { client: slot, table };
    return new LoadSideReader(
      slot,
      table,
      columns,
      await RangeReader.open(side, table.primaryKey, table.primaryKey),
      await RangeReader.open(side, columns, table.primaryKey, lockRows),
    );
  }

  /** The next `limit` keys after `lo`. */
  async nextKeys(lo: KeyValues | null, limit: number): Promise<KeyValues[]> {
    const { rows } = await this.keys.fetch(lo, null, limit);
    return rows.map((r) => this.keys.keyOf(r));
  }

  /** Whether the table has had entries on this side; probes (one index probe) until one is seen. */
  async probeEntries(tableName: string, ahead = false): Promise<boolean> {
    if (this.entriesSeen) return true;
    if (this.probedNone && !ahead) {
      this.probedNone = false;
      return false;
    }
    this.entriesSeen = await anyRowFor(this.slot, 'ds_row_version', tableName);
    this.probedNone = ahead && !this.entriesSeen;
    return this.entriesSeen;
  }

  /** Every row of lo < key <= hi, in canonical values, a few chunks at a time. */
  async rowsIn(lo: KeyValues | null, hi: KeyValues, chunk: number): Promise<ValueMap[]> {
    const out: ValueMap[] = [];
    let cursor = lo;
    for (;;) {
      const { rows, lastKey } = await this.rows.fetch(cursor, hi, chunk);
      for (const row of rows) out.push(this.canonical(row));
      if (rows.length < chunk) return out;
      cursor = lastKey;
    }
  }

  private canonical(row: Row): ValueMap {
    const { dialect } = this.slot;
    const out: ValueMap = {};
    for (const name of this.columns) out[name] = dialect.fromDriver(columnByName(this.table, name)!, row[name]) as CanonicalValue;
    return out;
  }

  keyText(row: ValueMap): string {
    return canonicalKeyText(this.table, row);
  }

  keyMap(key: KeyValues): ValueMap {
    return Object.fromEntries(this.table.primaryKey.map((k, i) => [k, key[i]]));
  }
}

/** Whether `systemTable` (ds_row_version, ds_change_pending) holds any row of table `tableName`: one index probe. */
export async function anyRowFor(client: DbClient, systemTable: string, tableName: string): Promise<boolean> {
  const { rows } = await client.query<Row>(
    `SELECT CASE WHEN EXISTS (SELECT 1 FROM ${systemTable} WHERE table_name = ${client.dialect.sql.param(1)}) THEN 1 ELSE 0 END AS found`,
    [tableName],
  );
  return Number(rows[0].found) === 1;
}

/** Rows of a key range with their source entries (null: the row has none at the source). */
export type SourceRows = Array<{ row: ValueMap; entry: RowEntry | null }>;

/**
 * Reads the entries of `keys`, then the rows of lo < key <= the last of `keys`. Two
 * statements, each with its own snapshot on brands that take one per statement: the
 * order alone makes an entry never newer than the row read with it (a transaction around
 * them would add two round trips and hold nothing more).
 */
async function readSourceRows(source: LoadSideReader, tableName: string, lo: KeyValues | null, keys: KeyValues[]): Promise<SourceRows> {
  // A table whose rows all predate the triggers has no entries until its first change:
  // one probe says so instead of a look-up of every key (until one is seen; then by key).
  // (Probed with the keys read ahead, when they were: see LoadSideReader.probeEntries.)
  // Not locked (the slot is lockless): the load must not hold up the source's writers.
  const entries = (await source.probeEntries(tableName))
    ? await readEntries(
        source.slot,
        tableName,
        keys.map((k) => source.keyText(source.keyMap(k))),
      )
    : new Map<string, RowEntry>();
  const rows = await source.rowsIn(lo, keys[keys.length - 1], keys.length + 1);
  return rows.map((row) => ({ row, entry: entries.size ? (entries.get(source.keyText(row)) ?? null) : null }));
}

export interface ChunkOutcome {
  inserted: number;
  updated: number;
  existing: Array<{ key: ValueMap; resolution: Resolution; columns: string[] }>;
}

/**
 * One chunk, in the target's transaction `tx`: the target's entries of `keys` (locked)
 * and rows of the range first, then the source's entries and rows of the range, so that
 * every change the target's import applied before is already in what the source gives.
 * Plans each source row against the target's; with `write`, writes rows (capture
 * silenced: the source's changes reach other nodes from the source) and entries in `tx`,
 * which the caller commits with the load's state.
 */
export async function mergeChunk(
  tx: DbClient,
  target: LoadSideReader,
  source: LoadSideReader,
  tableName: string,
  policy: ConflictPolicy,
  lo: KeyValues | null,
  keys: KeyValues[],
  write: boolean,
  onSourceRead?: () => void,
  insertsProve = false,
): Promise<ChunkOutcome & { rows: number; written: string[] }> {
  const { table, columns } = target;
  const hi = keys[keys.length - 1];
  // With `insertsProve` (the target had no entry of the table when the load began, and no
  // chunk of it failed since), the target's rows of the range are read first: when there
  // are none, every source row is an insert with an inserted entry, and an entry the target
  // holds for one of its keys all the same (an import's, stored since the load began: a
  // tombstone, or a row deleted since) makes the INSERT of that entry fail on the key, as
  // in the entry-race rule: the chunk is rolled back and done again with the look-up
  // (the caller clears `insertsProve` on any failure). No entry is read, none is replaced.
  let entries = new Map<string, RowEntry>();
  let here = new Map<string, ValueMap>();
  let asked = new Set<string>();
  let looked = true;
  const firstRows = write && insertsProve ? await target.rowsIn(lo, hi, 2000) : null;
  if (firstRows && firstRows.length === 0) looked = false;
  else {
    asked = new Set(keys.map((k) => target.keyText(target.keyMap(k))));
    entries = await readEntries(tx, tableName, [...asked]);
    // Read after the entries (locked): a row whose entry is locked does not change under the chunk.
    here = new Map((await target.rowsIn(lo, hi, 2000)).map((row) => [target.keyText(row), row]));
  }
  const chunk = await readSourceRows(source, tableName, lo, keys);
  onSourceRead?.();
  const texts = chunk.map((r) => target.keyText(r.row));
  // Keys inserted at the source since its keys were read (a key asked for and not found has no entry).
  const late = looked ? texts.filter((t) => !asked.has(t)) : [];
  if (late.length) for (const [k, e] of await readEntries(tx, tableName, late)) entries.set(k, e);
  const plans: Array<{ row: ValueMap; plan: LoadPlan }> = [];
  const outcome = { inserted: 0, updated: 0, existing: [] as ChunkOutcome['existing'], rows: chunk.length, written: texts };
  for (let i = 0; i < chunk.length; i++) {
    const { row, entry } = chunk[i];
    const plan = planLoadRow(
      table,
      policy,
      columns,
      { row, entry },
      { row: here.get(texts[i]) ?? null, entry: entries.get(texts[i]) ?? null },
    );
    plans.push({ row, plan });
    if (plan.write === 'insert') outcome.inserted++;
    if (plan.write === 'update') outcome.updated++;
    if (plan.existing) outcome.existing.push({ key: Object.fromEntries(table.primaryKey.map((k) => [k, row[k]])), ...plan.existing });
  }
  if (!write) return outcome;
  await tx.dialect.silenceCapture(tx, true);
  const inserts = plans.filter((p) => p.plan.write === 'insert').map((p) => p.row);
  if (inserts.length) await insertTableRows(tx, table, inserts);
  for (const { row, plan } of plans) {
    if (plan.write !== 'update') continue;
    const key = Object.fromEntries(table.primaryKey.map((k) => [k, row[k]]));
    if ((await updateRow(tx, table, key, plan.values)) !== 1)
      throw new Error(`load: update of ${table.name} ${JSON.stringify(key)} touched no row`);
  }
  // Left silenced where that ends with the transaction: what the chunk writes after this
  // (entries, the state; waiting updates go through the import, which silences itself) has no triggers.
  if (!tx.dialect.capabilities.silenceEndsWithTransaction) await tx.dialect.silenceCapture(tx, false);
  // Every row written gets an entry: the source's, or the neutral one (cl 1, lowest
  // version: what the merge assumes for a row without one). An entry the target did not
  // have is inserted, never replaced: if the import stores one for the key meanwhile (a
  // delete that arrived before the row, which it could not see), one of the two inserts
  // fails on the key and that side plans again with the other's row, instead of
  // overwriting it. Entries the target had are locked since the start of `tx`.
  const replaced: EntryWrite[] = [];
  const added: unknown[][] = [];
  plans.forEach(({ plan }, i) => {
    const entry = plan.entry ?? (plan.write !== 'none' ? NEUTRAL_ENTRY : null);
    if (!entry) return;
    if (entries.has(texts[i])) replaced.push({ table: tableName, rowKey: texts[i], entry, isNew: false });
    else added.push([tableName, texts[i], entry.cl, entry.maxVersion, entry.base.time, entry.base.server, encodeColumns(entry.columns)]);
  });
  await writeEntries(tx, replaced);
  await writeRows(tx, 'ds_row_version', ENTRY_COLUMNS, added);
  return outcome;
}

/** Rows of canonical values into a synchronized table: set-wise where the brand has a BulkWriter, else multi-row INSERTs. */
export async function insertTableRows(tx: DbClient, table: TableSchema, rows: ValueMap[]): Promise<void> {
  const { dialect } = tx;
  if (dialect.bulk) return dialect.bulk.insertTableRows(tx, table, rows);
  const names = Object.keys(rows[0]);
  const columns = names.map((n) => columnByName(table, n)!);
  const bare = bareName(table);
  const head = `INSERT INTO ${dialect.sql.table(bare, table.schema)} (${names.map((n) => dialect.sql.ident(n)).join(', ')}) VALUES `;
  const perStatement = Math.max(1, Math.min(500, Math.floor(dialect.capabilities.maxParameters / names.length)));
  for (let i = 0; i < rows.length; i += perStatement) {
    const slice = rows.slice(i, i + perStatement);
    let n = 0;
    const tuples = slice.map(() => `(${names.map(() => dialect.sql.param(++n)).join(', ')})`);
    const params = slice.flatMap((row) => columns.map((c) => dialect.toParam(c, row[c.name] as CanonicalValue)));
    await tx.query(head + tuples.join(', '), params);
  }
}
