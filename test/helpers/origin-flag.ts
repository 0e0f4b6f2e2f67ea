/**
 * The session origin flag the capture triggers read, set the way each brand's triggers
 * expect. It is not on the Dialect port (the import silences capture and records what it
 * applied itself); tests set it to exercise the triggers' origin path.
 */
import type { DbClient, DialectName, OriginFlag } from '../../src/core/dialect.ts';
import { setOrigin as mssql } from '../../src/dialects/mssql/mssql-dialect.ts';
import { setOrigin as mysql } from '../../src/dialects/mysql/mysql-dialect.ts';
import { setOrigin as postgres } from '../../src/dialects/postgres/postgres-dialect.ts';
import { setOrigin as sqlite } from '../../src/dialects/sqlite/sqlite-dialect.ts';

const SETTERS: Record<DialectName, (tx: DbClient, origin: OriginFlag | null) => Promise<void>> = { mssql, mysql, postgres, sqlite };

/** Sets (or with null clears) the origin flag in the current transaction of `tx`. */
export function setOriginFlag(tx: DbClient, origin: OriginFlag | null): Promise<void> {
  return SETTERS[tx.dialect.name](tx, origin);
}
