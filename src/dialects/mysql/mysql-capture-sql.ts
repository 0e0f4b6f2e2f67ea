/**
 * Template helpers of the MySQL/MariaDB capture triggers (templates/mysql/capture.sql.hbs):
 * a column's canonical JSON, the key's canonical text, change tests, version paths.
 * MariaDB has no JSON type to cast to (JSON is LONGTEXT there) and MySQL 8 prints
 * booleans as 1/0, so the JSON text is built by hand, the same way on both.
 */
import { isSinglePrecision } from '../../core/canonical.ts';
import type { ColumnSchema } from '../../core/schema.ts';
import { mysqlSql } from './mysql-sql.ts';

const SAFE_INTEGER = '9007199254740991';

/** As utf8mb4 text, whatever the column's character set, so that pieces concatenate. */
const utf8 = (expr: string) => `CONVERT(${expr} USING utf8mb4)`;
const quoted = (expr: string) => `JSON_QUOTE(${utf8(expr)})`;
/** BIT(n) values are byte strings until added to a number. */
const numeric = (column: ColumnSchema, ref: string) => (/^bit\b/i.test(column.nativeType) ? `(${ref} + 0)` : ref);

/** JSON text of one value (utf8mb4), or NULL when the value is NULL. */
function jsonText(column: ColumnSchema, ref: string): string {
  const value = numeric(column, ref);
  switch (column.family) {
    case 'integer':
      return utf8(value);
    case 'float':
      // A FLOAT prints with 6 digits (0.1234567 as 0.123457); as a double it prints exactly.
      return isSinglePrecision(column) ? utf8(`(${value} + 0e0)`) : utf8(value);
    case 'bigint':
      return `IF(${value} BETWEEN -${SAFE_INTEGER} AND ${SAFE_INTEGER}, ${utf8(value)}, ${quoted(value)})`;
    case 'boolean':
      return utf8(`CASE WHEN ${value} <> 0 THEN 'true' WHEN ${value} = 0 THEN 'false' END`);
    case 'date':
      return quoted(`DATE_FORMAT(${ref}, '%Y-%m-%d')`);
    case 'time':
      return quoted(`TIME_FORMAT(${ref}, '%H:%i:%s.%f')`);
    case 'timestamp':
      return quoted(`DATE_FORMAT(${ref}, '%Y-%m-%dT%H:%i:%s.%f')`);
    case 'timestamptz':
      // UNIX_TIMESTAMP of a TIMESTAMP column is the stored UTC instant, whatever the
      // writer's session time zone (https://mariadb.com/kb/en/unix_timestamp/).
      return quoted(
        `DATE_FORMAT(TIMESTAMPADD(MICROSECOND, ROUND(UNIX_TIMESTAMP(${ref}) * 1000000), CAST('1970-01-01' AS DATETIME(6))), '%Y-%m-%dT%H:%i:%s.%fZ')`,
      );
    case 'binary':
      // TO_BASE64 breaks lines every 76 characters.
      return quoted(`REPLACE(TO_BASE64(${ref}), CHAR(10 USING utf8mb4), '')`);
    default:
      return quoted(ref); // text, decimal (a string, digits kept), json (its text), uuid
  }
}

/**
 * The canonical JSON of `column` in row `row` (NEW or OLD), never NULL. Every piece
 * gets the same explicit collation: JSON functions answer utf8mb4_bin, CONVERT the
 * default utf8mb4 collation, and CONCAT refuses to mix two implicit ones.
 */
export function mysqlJsonValue(column: ColumnSchema, row: string): string {
  return `COALESCE(${jsonText(column, `${row}.${mysqlSql.ident(column.name)}`)} COLLATE utf8mb4_bin, 'null')`;
}

const jsonKey = (column: ColumnSchema, first: boolean) => mysqlSql.literal(`${first ? '{' : ','}${JSON.stringify(column.name)}:`);

/** A JSON object of every column of `columns`. */
export function mysqlJsonObject(columns: ColumnSchema[], row: string): string {
  if (columns.length === 0) return `'{}'`;
  const pairs = columns.map((c, i) => `${jsonKey(c, i === 0)}, ${mysqlJsonValue(c, row)}`);
  return `CONCAT(\n      ${pairs.join(',\n      ')},\n      '}')`;
}

/**
 * JSON_QUOTE escapes control characters as `\u001F`, JSON.stringify as `\u001f`. Only
 * text holding one needs the fix: escaped backslashes (`\\`) step aside as CHAR(1),
 * which JSON_QUOTE never leaves bare, so that `\` + `u001F` in the text stays as it is.
 */
const HEX_LETTER_ESCAPES = ['000b', '000e', '000f', '001a', '001b', '001c', '001d', '001e', '001f'];

function jsonStringifyQuoted(expr: string): string {
  const json = quoted(expr);
  let fixed = `REPLACE(${json}, ${mysqlSql.literal('\\\\')}, CHAR(1 USING utf8mb4))`;
  for (const hex of HEX_LETTER_ESCAPES)
    fixed = `REPLACE(${fixed}, ${mysqlSql.literal(`\\u${hex.toUpperCase()}`)}, ${mysqlSql.literal(`\\u${hex}`)})`;
  fixed = `REPLACE(${fixed}, CHAR(1 USING utf8mb4), ${mysqlSql.literal('\\\\')})`;
  return `IF(${utf8(expr)} REGEXP '[[:cntrl:]]', ${fixed}, ${json})`;
}

/**
 * A key column's text in canonicalKeyText's spelling (src/core/canonical-key.ts). `plain`
 * leaves out the control-character fix of text (see mysqlKeySteps for when that is exact).
 */
function keyValueText(column: ColumnSchema, row: string, plain = false): string {
  const ref = `${row}.${mysqlSql.ident(column.name)}`;
  let text: string;
  switch (column.family) {
    case 'decimal':
      // DECIMAL(p, s) prints s digits after the point: 12.50 is "12.5", 12.00 is "12".
      text = column.scale ? quoted(`TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM ${utf8(ref)}))`) : quoted(ref);
      break;
    case 'text':
    case 'json':
      text = plain ? quoted(ref) : jsonStringifyQuoted(ref);
      break;
    default:
      return mysqlJsonValue(column, row);
  }
  return `COALESCE(${text} COLLATE utf8mb4_bin, 'null')`;
}

/**
 * The key's canonical text (object_id, ds_row_version.row_key): a one-column key is the
 * JSON value, a composite key a compact JSON object in primary-key order. JSON_OBJECT
 * would reorder the members and add spaces, so the text is concatenated.
 */
export function mysqlKeyJson(keyColumns: ColumnSchema[], row: string, plain = false): string {
  if (keyColumns.length === 1) return keyValueText(keyColumns[0], row, plain);
  const pairs = keyColumns.map((c, i) => `${jsonKey(c, i === 0)}, ${keyValueText(c, row, plain)}`);
  return `CONCAT(\n      ${pairs.join(',\n      ')},\n      '}')`;
}

/**
 * Trigger steps that set `variable` to the key's canonical text. MariaDB resolves the whole
 * of a statement's expression on every row, so the control-character fix of a text key
 * (eleven REPLACEs behind a REGEXP) is a step of its own, taken only when the plain JSON_QUOTE
 * text holds `\u`: JSON_QUOTE writes a control character as `\uXXXX` (or as `\n`, `\t`…,
 * which the fix leaves alone), and text without one comes out of the fix unchanged, so the
 * result is the one expression's whatever the text.
 */
export function mysqlKeySteps(variable: string, keyColumns: ColumnSchema[], row: string): string {
  const set = `SET ${variable} = ${mysqlKeyJson(keyColumns, row, true)};`;
  if (!keyColumns.some((c) => c.family === 'text' || c.family === 'json')) return set;
  return `${set}\n    IF INSTR(${variable}, ${mysqlSql.literal('\\u')}) > 0 THEN\n      SET ${variable} = ${mysqlKeyJson(keyColumns, row)};\n    END IF;`;
}

/**
 * True when the column changed. `<=>` is NULL-safe; text is compared as bytes, since
 * under a case- or pad-insensitive collation 'a' = 'A' = 'a ' and such an edit would be lost.
 */
export function mysqlChanged(column: ColumnSchema): string {
  const name = mysqlSql.ident(column.name);
  const asBytes = column.family === 'text' || column.family === 'json';
  const side = (row: string) => (asBytes ? `CAST(${row}.${name} AS BINARY)` : `${row}.${name}`);
  return `NOT (${side('NEW')} <=> ${side('OLD')})`;
}

/** True when any of the columns changed. */
export function mysqlAnyChanged(columns: ColumnSchema[]): string {
  return `(${columns.map(mysqlChanged).join('\n    OR ')})`;
}

/** Stands for a stamp in dsync_patch: JSON.stringify escapes CHAR(1) in a name, so it occurs nowhere else. */
const STAMP_PLACEHOLDER = 'CHAR(1 USING utf8mb4)';

/**
 * The update trigger's per-column steps, one `IF changed THEN SET … END IF` per column: a
 * changed column appends its name, its new and old values and (not a key column) a
 * placeholder for its version stamp to the variables dsync_names, dsync_new, dsync_old and
 * dsync_patch. MariaDB resolves every expression of a trigger statement anew on each row
 * (fix_fields: names, types, collations), whether or not its branch is taken, so one big
 * expression that tests every column costs per row what all its columns cost; these steps
 * make a row pay for the columns that changed (docs/performance.md, "Capture").
 * `stamps` false (a send-only node's capture, which keeps no versions): no dsync_patch.
 */
export function mysqlChangedColumnSteps(columns: (ColumnSchema & { isKey: boolean })[], stamps = true): string {
  return columns
    .map((c) => {
      const member = mysqlSql.literal(`,${JSON.stringify(c.name)}:`);
      const sets = [
        `dsync_names = CONCAT_WS(',', dsync_names, ${mysqlSql.literal(c.name)})`,
        `dsync_new = CONCAT(dsync_new, ${member}, ${mysqlJsonValue(c, 'NEW')})`,
        `dsync_old = CONCAT(dsync_old, ${member}, ${mysqlJsonValue(c, 'OLD')})`,
        ...(c.isKey || !stamps ? [] : [`dsync_patch = CONCAT(dsync_patch, ${member}, ${STAMP_PLACEHOLDER})`]),
      ];
      return `IF ${mysqlChanged(c)} THEN\n      SET ${sets.join(',\n        ')};\n    END IF;`;
    })
    .join('\n    ');
}

/**
 * The col_versions members of an update's changed non-key columns, `{"c":[version,"server"]}`,
 * from dsync_patch (mysqlChangedColumnSteps), for JSON_MERGE_PATCH (which replaces a
 * member's array as a whole). `version` is SQL text.
 */
export function mysqlVersionStamps(version: string, serverId: string): string {
  const stamp = `CONCAT('[', ${version}, ${mysqlSql.literal(`,${JSON.stringify(serverId)}]`)})`;
  return `CONCAT('{', SUBSTRING(REPLACE(dsync_patch, ${STAMP_PLACEHOLDER}, ${stamp}), 2), '}')`;
}

/** A JSON object from members each written with a leading comma (dsync_new, dsync_old). */
export function mysqlMembersObject(members: string): string {
  return `CONCAT('{', SUBSTRING(${members}, 2), '}')`;
}

/** A capture trigger's name, in the table's database when the table is qualified. */
export function mysqlTriggerName(table: { safeName: string; schema: string | null }, suffix: string): string {
  return mysqlSql.table(`ds_${table.safeName}_${suffix}`, table.schema);
}

/** A trigger with a compound body (`BEGIN … END`, `;` inside). */
export const COMPOUND_TRIGGER = /\bFOR EACH ROW\s+BEGIN\b/i;

/** The mysql client reads a compound body between DELIMITER lines (so does splitSqlScript). */
export function mysqlStatementEnd(statement: string): string {
  return COMPOUND_TRIGGER.test(statement) ? `DELIMITER $$\n${statement}$$\nDELIMITER ;` : `${statement};`;
}
