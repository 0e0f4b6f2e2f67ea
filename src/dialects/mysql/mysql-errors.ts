/**
 * Which MySQL/MariaDB errors are transient (retry the batch) rather than about the data.
 * Server errnos: https://dev.mysql.com/doc/mysql-errors/8.0/en/server-error-reference.html
 * (MariaDB: https://mariadb.com/kb/en/mariadb-error-code-reference/); client errnos:
 * https://dev.mysql.com/doc/mysql-errors/8.0/en/client-error-reference.html
 */
import { anyCause, SOCKET_ERROR_CODES } from '../../core/errors.ts';

export const ER_DISK_FULL = 1021;
export const ER_CON_COUNT_ERROR = 1040; // too many connections
export const ER_OUT_OF_RESOURCES = 1041;
export const ER_RECORD_FILE_FULL = 1114; // table is full
export const ER_LOCK_WAIT_TIMEOUT = 1205;
export const ER_LOCK_DEADLOCK = 1213;
export const ER_QUERY_INTERRUPTED = 1317; // KILL QUERY
export const ER_LOCK_TABLE_FULL = 1206;
export const ER_SERVER_SHUTDOWN = 1053;
export const ER_NET_READ_ERROR = 1158;
export const ER_NET_READ_INTERRUPTED = 1159;
export const ER_NET_ERROR_ON_WRITE = 1160;
export const ER_NET_WRITE_INTERRUPTED = 1161;
export const ER_CONNECTION_KILLED = 1927; // MariaDB: KILL CONNECTION
export const ER_STATEMENT_TIMEOUT = 3024; // MySQL max_execution_time
export const ER_STATEMENT_TIMEOUT_MARIADB = 1969; // MariaDB max_statement_time
export const CR_SERVER_GONE_ERROR = 2006;
export const CR_SERVER_LOST = 2013;
/** mysql2's code for a connection that closed under it (no errno). */
export const PROTOCOL_CONNECTION_LOST = 'PROTOCOL_CONNECTION_LOST';
export const PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR = 'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR';

const TRANSIENT_ERRNOS = new Set([
  ER_DISK_FULL,
  ER_CON_COUNT_ERROR,
  ER_OUT_OF_RESOURCES,
  ER_RECORD_FILE_FULL,
  ER_LOCK_WAIT_TIMEOUT,
  ER_LOCK_DEADLOCK,
  ER_QUERY_INTERRUPTED,
  ER_LOCK_TABLE_FULL,
  ER_SERVER_SHUTDOWN,
  ER_NET_READ_ERROR,
  ER_NET_READ_INTERRUPTED,
  ER_NET_ERROR_ON_WRITE,
  ER_NET_WRITE_INTERRUPTED,
  ER_CONNECTION_KILLED,
  ER_STATEMENT_TIMEOUT,
  ER_STATEMENT_TIMEOUT_MARIADB,
  CR_SERVER_GONE_ERROR,
  CR_SERVER_LOST,
]);
const TRANSIENT_CODES = new Set([PROTOCOL_CONNECTION_LOST, PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR, ...SOCKET_ERROR_CODES]);

export const ER_DUP_ENTRY = 1062;
export const ER_DUP_KEY = 1022;

export function isMysqlKeyCollision(error: unknown): boolean {
  return anyCause(error, (e) => e.errno === ER_DUP_ENTRY || e.errno === ER_DUP_KEY);
}

export function isMysqlTransient(error: unknown): boolean {
  return anyCause(
    error,
    (e) => (typeof e.errno === 'number' && TRANSIENT_ERRNOS.has(e.errno)) || (typeof e.code === 'string' && TRANSIENT_CODES.has(e.code)),
  );
}
