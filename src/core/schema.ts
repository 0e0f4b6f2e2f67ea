/**
 * The neutral table model: what introspection produces and what the generator,
 * the import and verify consume. Dialect-specific details stay in `nativeType`.
 */

/** The type families that decide a column's canonical wire encoding (docs/types.md). */
export const TYPE_FAMILIES = [
  'integer',
  'bigint',
  'decimal',
  'float',
  'boolean',
  'text',
  'date',
  'time',
  'timestamp',
  'timestamptz',
  'binary',
  'json',
  'uuid',
] as const;

export type TypeFamily = (typeof TYPE_FAMILIES)[number];

export interface ColumnSchema {
  name: string;
  /** The column type as the database spells it, e.g. `character varying(20)`. */
  nativeType: string;
  family: TypeFamily;
  nullable: boolean;
  /** Default expression as the catalog prints it, or null. */
  default: string | null;
  /** Maximum length in characters (text) or bytes (binary), when the type has one. */
  maxLength?: number | null;
  precision?: number | null;
  scale?: number | null;
  /** `always` identity columns need OVERRIDING SYSTEM VALUE (PostgreSQL) or IDENTITY_INSERT (SQL Server). */
  identity?: 'always' | 'default' | null;
  /** Computed by the database; never captured or written. */
  generated?: boolean;
  /** The collation of a text column as the brand names it (`utf8mb4_general_ci`), when it reports one. */
  collation?: string | null;
  /**
   * True when the collation compares case- or accent-insensitively: 'abc' and 'ABC' are
   * one value here. In a key column, rows another node keeps apart become one row here
   * (`dsync apply` warns; docs/types.md "Keys under a case-insensitive collation").
   */
  caseInsensitive?: boolean;
}

export interface TableSchema {
  /** The name as configured (what travels in `object_table`), e.g. `sales_order`. */
  name: string;
  /** The schema the table lives in (PostgreSQL/SQL Server), or null. */
  schema: string | null;
  columns: ColumnSchema[];
  /** Primary-key column names in key order. Never empty: a table without one cannot be synchronized. */
  primaryKey: string[];
  /**
   * PostgreSQL: the table is partitioned, a partition, or an inheritance parent or child, so
   * rows reach it through statements that name another table. Absent elsewhere.
   */
  inherits?: boolean;
}

const columnIndex = new WeakMap<TableSchema, Map<string, ColumnSchema>>();

/** The table's columns by name, indexed once per table (a caller with many names asks for it once). */
export function columnMap(table: TableSchema): ReadonlyMap<string, ColumnSchema> {
  let index = columnIndex.get(table);
  if (!index || index.size !== table.columns.length) {
    index = new Map(table.columns.map((c) => [c.name, c]));
    columnIndex.set(table, index);
  }
  return index;
}

/** The column called `name`; indexed per table, since the import asks for every value of every change. */
export function columnByName(table: TableSchema, name: string): ColumnSchema | undefined {
  return columnMap(table).get(name);
}

/** Columns that are captured and written: everything the database does not compute. */
export function syncedColumns(table: TableSchema): ColumnSchema[] {
  return table.columns.filter((c) => !c.generated);
}

export function primaryKeyColumns(table: TableSchema): ColumnSchema[] {
  return table.primaryKey.map((name) => {
    const column = columnByName(table, name);
    if (!column) throw new Error(`primary key column ${name} is not a column of ${table.name}`);
    return column;
  });
}
