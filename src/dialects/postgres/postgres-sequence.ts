/**
 * The id sequences of the outbox and inbox: the counter the safe horizon reads, and the
 * one setting that would break it. With CACHE n > 1 every session takes n ids at once
 * and hands them out in later transactions, long after the sequence (and so the fence's
 * L) moved past them: a change can get an id below rows already read, and be skipped.
 * https://www.postgresql.org/docs/current/sql-createsequence.html (CACHE, "Notes")
 * https://www.postgresql.org/docs/current/catalog-pg-sequence.html
 */
import type { DbClient } from '../../core/dialect.ts';
import { RuntimeError } from '../../core/errors.ts';
import { postgresSql } from './postgres-sql.ts';

type IdTable = 'ds_change_outbox' | 'ds_change_inbox';

export const sequenceOf = (table: IdTable) => `${table}_id_seq`;

export function sequenceCachedError(sequence: string, cache: number): RuntimeError {
  return new RuntimeError(
    'sequence_cached',
    `sequence ${sequence} has CACHE ${cache}: sessions hand out cached ids out of order, so a reader would skip changes; dsync refuses to read`,
    {
      hint: `run \`ALTER SEQUENCE ${postgresSql.ident(sequence)} CACHE 1\`, then reconnect the applications that write to it (a session hands out the ids it already cached)`,
    },
  );
}

/** The SELECT of the sequence's last value (0 before the first) and its cache; `name` is the sequence's name as SQL (parameter 1 unless given). */
export const sequenceReadSql = (table: IdTable, name = '$1') =>
  `SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END AS last_id, p.seqcache AS cache
     FROM ${postgresSql.ident(sequenceOf(table))} AS s, pg_sequence AS p WHERE p.seqrelid = ${name}::regclass`;

/** The sequence's last value (0 before the first) and its cache, in one read. */
export async function readSequence(client: DbClient, table: IdTable): Promise<{ lastId: number; cache: number }> {
  const { rows } = await client.query<{ last_id: string; cache: string }>(sequenceReadSql(table), [sequenceOf(table)]);
  return { lastId: Number(rows[0].last_id), cache: Number(rows[0].cache) };
}

/** The last value of a sequence read (SEQUENCE_READ), refusing a cached sequence (see sequenceCachedError). */
export function checkedLastId(table: IdTable, row: { last_id: string | number; cache: string | number }): number {
  if (Number(row.cache) > 1) throw sequenceCachedError(sequenceOf(table), Number(row.cache));
  return Number(row.last_id);
}

/** The last value, refusing a cached sequence (the reader checks on every read: the same statement, no extra cost). */
export async function readIdCounter(client: DbClient, table: IdTable): Promise<number> {
  return checkedLastId(table, await readSequence(client, table).then(({ lastId, cache }) => ({ last_id: lastId, cache })));
}

/** For `dsync apply`: both sequences, when they exist. */
export async function checkIdCounters(client: DbClient): Promise<void> {
  const { rows } = await client.query<{ name: string; cache: string }>(
    `SELECT c.relname AS name, p.seqcache AS cache FROM pg_sequence AS p JOIN pg_class AS c ON c.oid = p.seqrelid
     WHERE p.seqrelid IN (to_regclass($1), to_regclass($2)) AND p.seqcache > 1 ORDER BY c.relname DESC`,
    [sequenceOf('ds_change_outbox'), sequenceOf('ds_change_inbox')],
  );
  if (rows.length > 0) throw sequenceCachedError(rows[0].name, Number(rows[0].cache));
}

/** setval with is_called: the next id is value + 1 (for hints). */
export const moveIdCounterSql = (table: IdTable, value: number) => `SELECT setval('${sequenceOf(table)}', ${value}, true)`;
