/**
 * Which SQL Server errors are transient (retry the batch) rather than about the data.
 * Error numbers: https://learn.microsoft.com/sql/relational-databases/errors-events/database-engine-events-and-errors
 * and the Azure SQL transient list: https://learn.microsoft.com/azure/azure-sql/database/troubleshoot-common-errors-issues
 */
import { anyCause, SOCKET_ERROR_CODES } from '../../core/errors.ts';

export const DEADLOCK_VICTIM = 1205;
export const LOCK_REQUEST_TIMEOUT = 1222;
export const LOG_FULL = 9002;
export const FILEGROUP_FULL = 1105;
export const SERVICE_BUSY = 40501;
export const DATABASE_UNAVAILABLE = 40613;
export const RESOURCE_LIMIT = 10928;
export const RESOURCE_LIMIT_MIN = 10929;
export const SNAPSHOT_CONFLICT = 3960;
/** tedious' code for a request timeout (ADO.NET's -2). */
export const REQUEST_TIMEOUT = 'ETIMEOUT';
/** tedious/mssql codes for a lost or closed connection. */
export const CONNECTION_CODES = ['ESOCKET', 'ECONNCLOSED', 'ECONNRESET'];

const TRANSIENT_NUMBERS = new Set([
  DEADLOCK_VICTIM,
  LOCK_REQUEST_TIMEOUT,
  LOG_FULL,
  FILEGROUP_FULL,
  SERVICE_BUSY,
  DATABASE_UNAVAILABLE,
  RESOURCE_LIMIT,
  RESOURCE_LIMIT_MIN,
  SNAPSHOT_CONFLICT,
  -2,
]);
const TRANSIENT_CODES = new Set([REQUEST_TIMEOUT, ...CONNECTION_CODES, ...SOCKET_ERROR_CODES]);

export const UNIQUE_CONSTRAINT_VIOLATION = 2627;
export const DUPLICATE_KEY_IN_UNIQUE_INDEX = 2601;

export function isMssqlKeyCollision(error: unknown): boolean {
  return anyCause(error, (e) => e.number === UNIQUE_CONSTRAINT_VIOLATION || e.number === DUPLICATE_KEY_IN_UNIQUE_INDEX);
}

export function isMssqlTransient(error: unknown): boolean {
  return anyCause(
    error,
    (e) => (typeof e.number === 'number' && TRANSIENT_NUMBERS.has(e.number)) || (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)),
  );
}
