/**
 * Which SQLite errors are transient (retry the batch) rather than about the data.
 * Result codes (extended codes share the primary code's prefix): https://www.sqlite.org/rescode.html
 */
import { anyCause } from '../../core/errors.ts';

export const SQLITE_BUSY = 'SQLITE_BUSY';
export const SQLITE_LOCKED = 'SQLITE_LOCKED';
export const SQLITE_FULL = 'SQLITE_FULL';
export const SQLITE_IOERR = 'SQLITE_IOERR';
export const SQLITE_NOMEM = 'SQLITE_NOMEM';
export const SQLITE_INTERRUPT = 'SQLITE_INTERRUPT';

const TRANSIENT = [SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM, SQLITE_INTERRUPT];

/** Extended result codes of a refused primary or unique key. */
const KEY_COLLISIONS = new Set(['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE']);

export function isSqliteKeyCollision(error: unknown): boolean {
  return anyCause(error, (e) => typeof e.code === 'string' && KEY_COLLISIONS.has(e.code));
}

export function isSqliteTransient(error: unknown): boolean {
  return anyCause(
    error,
    (e) => typeof e.code === 'string' && TRANSIENT.some((c) => e.code === c || (e.code as string).startsWith(`${c}_`)),
  );
}
