/**
 * The update-time column of a table in capture mode query (docs/capture-modes.md#query):
 * the column the application sets on every insert and update, which the query capture
 * pass reads rows by. Checked at generate and at every pass, one line naming the fix.
 */
import { ConfigError } from '../../core/errors.ts';
import { type ColumnSchema, columnByName, type TableSchema } from '../../core/schema.ts';

/** The column, or a ConfigError naming the node, the table and the config key to change. */
export function requireUpdateTimeColumn(table: TableSchema, columnName: string, nodeName: string): ColumnSchema {
  const column = columnByName(table, columnName);
  if (!column || column.generated) {
    throw new ConfigError(
      'update_time_column_missing',
      `node ${nodeName}: table ${table.name} has no column ${columnName}, which capture mode query reads changes by`,
      {
        hint: `add the column (set on every insert and update), name another with "updateTimeColumn" in the table's entry, or use capture trigger`,
      },
    );
  }
  if (column.family !== 'timestamp' && column.family !== 'timestamptz' && column.family !== 'date') {
    throw new ConfigError(
      'update_time_column_type',
      `node ${nodeName}: column ${table.name}.${columnName} is ${column.nativeType}, not a date or timestamp, so capture mode query cannot read changes by it`,
      { hint: `name a timestamp column with "updateTimeColumn" in the table's entry` },
    );
  }
  return column;
}
