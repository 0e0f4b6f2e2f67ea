/**
 * Which PostgreSQL errors are transient (retry the batch) rather than about the data (park
 * the change). SQLSTATE codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
import { anyCause, SOCKET_ERROR_CODES } from '../../core/errors.ts';

export const SERIALIZATION_FAILURE = '40001';
export const DEADLOCK_DETECTED = '40P01';
export const LOCK_NOT_AVAILABLE = '55P03'; // lock_timeout
export const QUERY_CANCELED = '57014'; // statement_timeout
export const OUT_OF_MEMORY = '53200';
export const DISK_FULL = '53100';
export const INSUFFICIENT_RESOURCES = '53000';
export const TOO_MANY_CONNECTIONS = '53300';
export const ADMIN_SHUTDOWN = '57P01'; // pg_terminate_backend, server shutdown
export const CRASH_SHUTDOWN = '57P02';
export const CANNOT_CONNECT_NOW = '57P03';
/** Class 08: connection exceptions. */
export const CONNECTION_EXCEPTION_CLASS = '08';

const TRANSIENT = new Set([
  SERIALIZATION_FAILURE,
  DEADLOCK_DETECTED,
  LOCK_NOT_AVAILABLE,
  QUERY_CANCELED,
  OUT_OF_MEMORY,
  DISK_FULL,
  INSUFFICIENT_RESOURCES,
  TOO_MANY_CONNECTIONS,
  ADMIN_SHUTDOWN,
  CRASH_SHUTDOWN,
  CANNOT_CONNECT_NOW,
]);

export const UNIQUE_VIOLATION = '23505';

export function isPostgresKeyCollision(error: unknown): boolean {
  return anyCause(error, (e) => e.code === UNIQUE_VIOLATION);
}

export function isPostgresTransient(error: unknown): boolean {
  return anyCause(
    error,
    (e) =>
      typeof e.code === 'string' &&
      (TRANSIENT.has(e.code) || (e.code.startsWith(CONNECTION_EXCEPTION_CLASS) && e.code.length === 5) || SOCKET_ERROR_CODES.has(e.code)),
  );
}
