/**
 * The SQLite capture triggers' date/time JSON as it was before issue 13's lighter capture
 * (src/dialects/sqlite/sqlite-sql.ts at commit f84b0c7, `dateTimeJson`): text taken apart in
 * seven nested sub-selects. Frozen here as the reference the new expression is compared
 * with (sqlite-datetime.test.ts): the two must give the same JSON for every value. Its fast
 * path is left out: it was meant to give the parse's result for every text it took, but did
 * not for a text holding a NUL character right after the clock (length() stops at a NUL,
 * `||` does not: '2024-01-02 03:04:05' NUL 'x' came out as "2024-01-02T03:04:05", without
 * its fraction); the new expression gives the parse's result there.
 */
type DateTimeFamily = 'date' | 'time' | 'timestamp' | 'timestamptz';

const NL = '\n      ';
const textJson = (v: string) => `json_quote(CAST(${v} AS TEXT))`;

export function referenceDateTimeJson(family: DateTimeFamily, v: string): string {
  const hasDate = family !== 'time';
  const dateOk = `d GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' AND date(d) = d AND (length(v) = 10 OR substr(v, 11, 1) IN (' ', 'T'))`;
  const timeOk = [
    `hh GLOB '[0-2][0-9]' AND colon = ':' AND mi GLOB '[0-5][0-9]' AND ss GLOB '[0-6][0-9]' AND (rest NOT LIKE '.%' OR frac <> '')`,
    `(zone IN ('', 'Z', 'z') OR zone GLOB '[+-][0-9][0-9]' OR zone GLOB '[+-][0-9][0-9][0-9][0-9]' OR zone GLOB '[+-][0-9][0-9]:[0-9][0-9]')`,
  ].join(' AND ');
  const clock = `hh || ':' || mi || ':' || ss`;
  const micro = `substr(frac || '000000', 1, 6)`;
  const offset = `CASE WHEN zone IN ('', 'Z', 'z') THEN '+00:00' WHEN length(zone) = 3 THEN zone || ':00' WHEN length(zone) = 5 THEN substr(zone, 1, 3) || ':' || substr(zone, 4, 2) ELSE zone END`;
  const [ok, result] = {
    date: [`${dateOk} AND ${timeOk}`, 'd'],
    time: [timeOk, `${clock} || '.' || ${micro}`],
    timestamp: [`${dateOk} AND ${timeOk}`, `d || 'T' || ${clock} || '.' || ${micro}`],
    timestamptz: [`${dateOk} AND ${timeOk} AND u IS NOT NULL`, `replace(u, ' ', 'T') || '.' || ${micro} || 'Z'`],
  }[family];
  const utc = family === 'timestamptz' ? `, datetime(d || ' ' || ${clock} || ${offset}) AS u` : '';
  const parsed = [
    `(SELECT CASE WHEN typeof(v) = 'text' AND ${ok} THEN json_quote(${result}) ELSE ${textJson('v')} END`,
    ` FROM (SELECT *${utc}`,
    `  FROM (SELECT *, substr(f, 1, n) AS frac, CASE WHEN rest LIKE '.%' THEN ltrim(substr(f, n + 1)) ELSE ltrim(rest) END AS zone`,
    `   FROM (SELECT *, length(f) - length(ltrim(f, '0123456789')) AS n`,
    `    FROM (SELECT *, CASE WHEN rest LIKE '.%' THEN substr(rest, 2) ELSE '' END AS f`,
    `     FROM (SELECT v, d, substr(t, 1, 2) AS hh, substr(t, 3, 1) AS colon, substr(t, 4, 2) AS mi,`,
    `        CASE WHEN substr(t, 6, 1) = ':' THEN substr(t, 7, 2) ELSE '00' END AS ss,`,
    `        CASE WHEN substr(t, 6, 1) = ':' THEN substr(t, 9) ELSE substr(t, 6) END AS rest`,
    hasDate
      ? `      FROM (SELECT v, substr(v, 1, 10) AS d, CASE WHEN length(v) = 10 THEN '00:00' ELSE substr(v, 12) END AS t FROM (SELECT ${v} AS v))))))))`
      : `      FROM (SELECT v, NULL AS d, v AS t FROM (SELECT ${v} AS v))))))))`,
  ].join(NL);
  return parsed;
}
