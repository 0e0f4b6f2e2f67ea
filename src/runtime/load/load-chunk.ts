/**
 * One chunk of a load: read a key range of the source with the version-store entries of
 * its rows, then merge it into the target in one transaction that also moves the load's
 * state. Source order of reads (docs/onboarding.md "Why a load is safe while the source
 * takes writes"): the chunk's keys, then their entries, then the rows of that key range,
 * all in one source transaction; so an entry is never newer than the row read with it,
 * even where each statement sees its own snapshot (PostgreSQL's READ COMMITTED).
 */
import type { ConflictPolicy } from '../../config/config.ts';
import type { CanonicalValue } from '../../core/canonical.ts';
import { canonicalKeyText } from '../../core/canonical-key.ts';
import type { ValueMap } from '../../core/change.ts';
import type { DbClient, Row } from '../../core/dialect.ts';
import { columnByName, type TableSchema } from '../../core/schema.ts';
import { RangeReader, type KeyValues } from '../../verify/range-reader.ts';
import { updateRow } from '../import/dml.ts';
import type { RowEntry } from '../import/merge.ts';
import { readEntries, writeEntries, type EntryWrite } from '../import/version-store.ts';
import { ClientSlot } from './client-slot.ts';
import { type LoadPlan, planLoadRow, type Resolution } from './load-plan.ts';

/** One side of the load: a client slot, its table, and readers of the copied columns. */
export class LoadSideReader {
  private constructor(
    readonly slot: ClientSlot,
    readonly table: TableSchema,
    readonly columns: string[],
    private readonly keys: RangeReader,
    private readonly rows: RangeReader,
  ) {}

  static async open(client: DbClient, table: TableSchema, columns: string[], lockless: boolean): Promise<LoadSideReader> {
    const slot = new ClientSlot(client, lockless);
    const side = { client: slot, table };
    return new LoadSideReader(slot, table, columns, await RangeReader.open(side, table.primaryKey, table.primaryKey), await RangeReader.open(side, columns, table.primaryKey));
  }

  /** The next `limit` keys after `lo`. */
  async nextKeys(lo: KeyValues | null, limit: number): Promise<KeyValues[]> {
    const { rows } = await this.keys.fetch(lo, null, limit);
    return rows.map((r) => this.keys.keyOf(r));
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

  keyValues(row: ValueMap): KeyValues {
    return this.table.primaryKey.map((k) => row[k] as CanonicalValue);
  }
}

export interface SourceChunk {
  /** Rows with their entries (null: the row has none at the source). */
  rows: Array<{ row: ValueMap; entry: RowEntry | null }>;
  /** The chunk's upper key: the next chunk starts after it. Null when the table is done. */
  hi: KeyValues | null;
}

/** Reads the chunk after `lo` from the source (keys, entries, rows: in that order, one transaction). */
export async function readSourceChunk(source: LoadSideReader, tableName: string, lo: KeyValues | null, chunkRows: number): Promise<SourceChunk> {
  return source.slot.within(async () => {
    const keys = await source.nextKeys(lo, chunkRows);
    if (keys.length === 0) return { rows: [], hi: null };
    const hi = keys[keys.length - 1];
    const texts = keys.map((k) => canonicalKeyText(source.table, Object.fromEntries(source.table.primaryKey.map((n, i) => [n, k[i]]))));
    // Not locked (the slot is lockless): the load must not hold up the source's writers.
    const entries = await readEntries(source.slot, tableName, texts);
    const rows = await source.rowsIn(lo, hi, chunkRows + 1);
    return { rows: rows.map((row) => ({ row, entry: entries.get(source.keyText(row)) ?? null })), hi };
  });
}

export interface ChunkOutcome {
  inserted: number;
  updated: number;
  existing: Array<{ key: ValueMap; resolution: Resolution; columns: string[] }>;
}

/**
 * Plans the chunk against the target's rows and entries of the same key range; with
 * `write`, writes rows (capture silenced: the source's changes reach other nodes from the
 * source) and entries in `tx`, which the caller commits with the load's state.
 */
export async function mergeChunk(
  tx: DbClient,
  target: LoadSideReader,
  tableName: string,
  policy: ConflictPolicy,
  chunk: SourceChunk,
  lo: KeyValues | null,
  write: boolean,
): Promise<ChunkOutcome> {
  const { table, columns } = target;
  const texts = chunk.rows.map((r) => target.keyText(r.row));
  const entries = await readEntries(tx, tableName, texts);
  const here = new Map((await target.rowsIn(lo, chunk.hi!, 2000)).map((row) => [target.keyText(row), row]));
  const plans: Array<{ row: ValueMap; plan: LoadPlan }> = [];
  const outcome: ChunkOutcome = { inserted: 0, updated: 0, existing: [] };
  for (let i = 0; i < chunk.rows.length; i++) {
    const { row, entry } = chunk.rows[i];
    const plan = planLoadRow(table, policy, columns, { row, entry }, { row: here.get(texts[i]) ?? null, entry: entries.get(texts[i]) ?? null });
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
    if ((await updateRow(tx, table, key, plan.values)) !== 1) throw new Error(`load: update of ${table.name} ${JSON.stringify(key)} touched no row`);
  }
  await tx.dialect.silenceCapture(tx, false);
  const writes: EntryWrite[] = [];
  plans.forEach(({ plan }, i) => {
    if (plan.entry) writes.push({ table: tableName, rowKey: texts[i], entry: plan.entry });
  });
  await writeEntries(tx, writes);
  return outcome;
}

/** Rows of canonical values into a synchronized table: set-wise where the brand has a BulkWriter, else multi-row INSERTs. */
export async function insertTableRows(tx: DbClient, table: TableSchema, rows: ValueMap[]): Promise<void> {
  const { dialect } = tx;
  if (dialect.bulk) return dialect.bulk.insertTableRows(tx, table, rows);
  const names = Object.keys(rows[0]);
  const columns = names.map((n) => columnByName(table, n)!);
  const bare = table.name.includes('.') ? table.name.slice(table.name.indexOf('.') + 1) : table.name;
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
