/**
 * What templates see. The generator builds one GenerateContext per node and one
 * CaptureTable per synchronized table; templates read only these shapes, and reach
 * SQL text for names and values only through the `ident`/`lit` helpers and the
 * dialect's own helpers (templateHelpers).
 */
import { type ProgramConfig, programHome } from '../config/config.ts';
import type { DialectName } from '../core/dialect.ts';
import { keyNotesTable, safeName } from '../core/safe-name.ts';
import { type ColumnSchema, type TableSchema, syncedColumns } from '../core/schema.ts';

export interface CaptureColumn extends ColumnSchema {
  isKey: boolean;
}

export interface CaptureTable {
  /** As configured and as it travels in object_table. */
  name: string;
  schema: string | null;
  /** A short, safe, unique stem for trigger and function names (`ds_<safeName>_ins`). */
  safeName: string;
  /** Capture mode keys: the table its key triggers note keys in (`ds_key_<safeName>`). */
  notesTable: string;
  columns: CaptureColumn[];
  keyColumns: CaptureColumn[];
  /** Key column names joined by commas (object_pk_attribute). */
  keyNames: string;
  /** Every captured column name joined by commas (object_attribute of I and D rows). */
  columnNames: string;
  /**
   * Capture with row-level triggers where a brand's statement-level ones would miss writes:
   * a partitioned PostgreSQL table or one in an inheritance tree (TableSchema.inherits).
   */
  rowTriggers: boolean;
  /**
   * Aliases for a whole new and old row in the statement-level triggers' SQL: a bare alias
   * means the whole row only when no column has its name, so these avoid every column's.
   */
  rowAlias: string;
  oldAlias: string;
  /** The row-number column the triggers add beside a row's columns. */
  ordAlias: string;
}

export interface ProgramRow {
  id: number;
  name: string;
  type: 'transport' | 'import';
  source: string;
  destination: string;
  intervalSeconds: number;
  batchSize: number;
}

export interface GenerateContext {
  version: string;
  /**
   * `sendOnly`: the capture writes no version entries, and its outbox rows no row_cl, row_cl_old or change_version.
   * `receiveOnly`: nothing is captured (every table's capture file is capture_none).
   */
  node: { name: string; dialect: DialectName; serverId: string; sendOnly: boolean; receiveOnly: boolean };
  tables: CaptureTable[];
  /** Tables in capture mode query, with their update-time column (the view reads their time from it). */
  queryTables: Array<CaptureTable & { updateColumn: { name: string; zoned: boolean } }>;
  /** The programs whose ds_program_parameter row lives on this node. */
  programs: ProgramRow[];
}

/** `base`, or `base` with the first number that makes it differ from every name in `taken` (case-folded, as unquoted SQL names are). */
function freeAlias(base: string, taken: Set<string>): string {
  let alias = base;
  for (let i = 1; taken.has(alias); i++) alias = `${base}${i}`;
  return alias;
}

export function captureTable(schema: TableSchema): CaptureTable {
  const taken = new Set(schema.columns.map((c) => c.name.toLowerCase()));
  const columns = syncedColumns(schema).map((c) => ({ ...c, isKey: schema.primaryKey.includes(c.name) }));
  const keyColumns = schema.primaryKey.map((k) => columns.find((c) => c.name === k)!);
  return {
    name: schema.name,
    schema: schema.schema,
    safeName: safeName(schema.name),
    notesTable: keyNotesTable(schema.name),
    columns,
    keyColumns,
    keyNames: schema.primaryKey.join(','),
    columnNames: columns.map((c) => c.name).join(','),
    rowTriggers: schema.inherits === true,
    rowAlias: freeAlias('ds_new_row', taken),
    oldAlias: freeAlias('ds_old_row', taken),
    ordAlias: freeAlias('ds_ord', taken),
  };
}

/**
 * A transport program's row lives on its source node; an import program's on its node. A transport
 * into a directApply node has a second row there, its record of what it applied (`directInto`).
 */
export function programsOnNode(programs: ProgramConfig[], nodeName: string, directInto = false): ProgramRow[] {
  return programs
    .filter((p) => programHome(p) === nodeName || (directInto && p.type === 'transport' && p.to === nodeName))
    .map((p) => ({
      id: p.id,
      name: p.name,
      type: p.type,
      source: programHome(p),
      destination: p.type === 'transport' ? p.to : p.node,
      intervalSeconds: p.intervalSeconds,
      batchSize: p.batchSize,
    }));
}
