/**
 * The schema-qualified name of a table, written once: every dialect's `sql.table` joins
 * schema and name with `qualifiedName`, and code holding a TableSchema asks `tableRef`.
 */
import type { DialectSql } from './dialect.ts';

/** `schema.name`, each part quoted by `ident`; just the name when there is no schema. */
export function qualifiedName(ident: (name: string) => string, name: string, schema?: string | null): string {
  return schema ? `${ident(schema)}.${ident(name)}` : ident(name);
}

/**
 * A table as SQL refers to it, e.g. `"public"."sales_order"`. The config may spell a
 * table `schema.table`; introspection keeps that spelling in `name` and the schema
 * apart, so the prefix is dropped before the schema is put back.
 */
export function tableRef(sql: Pick<DialectSql, 'table'>, table: { name: string; schema: string | null }): string {
  return sql.table(bareName(table), table.schema);
}

/** The table's own name without a `schema.` prefix the config may give it. */
export function bareName(table: { name: string }): string {
  return table.name.includes('.') ? table.name.slice(table.name.indexOf('.') + 1) : table.name;
}
