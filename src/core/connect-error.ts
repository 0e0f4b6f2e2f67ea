/**
 * Connection failures, worded once for every brand: `node N: <what went wrong>` and a
 * hint that ends with how to fix the node's url. A driver only recognises its own
 * error codes and picks the problem; the sentences and the ConnectionError are here.
 * The `where` a driver passes is already redacted (never a password).
 */
import { ConnectionError } from './errors.ts';

export interface ConnectProblem {
  message: string;
  /** What to do; ", or fix nodes.N.url in the config" is added unless `fixUrl` is false. */
  hint?: string;
  fixUrl?: boolean;
}

export interface ConnectTarget {
  /** The brand as people name it: 'PostgreSQL', 'MySQL/MariaDB', 'SQL Server', 'SQLite'. */
  brand: string;
  /** The redacted URL or the file path. */
  where: string;
  nodeName: string;
}

/** Socket errors that mean the server is not there (as opposed to refusing us). */
export const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** The server did not answer at all. */
export function unreachable({ brand, where }: ConnectTarget, code: string, check?: string): ConnectProblem {
  return { message: `cannot reach ${brand} at ${where} (${code})`, hint: check ? `start the server and ${check}` : 'start the server' };
}

/** The server answered, but the database in the url does not exist; `create` is the command that makes it. */
export function noSuchDatabase({ brand, where }: ConnectTarget, create: string): ConnectProblem {
  return { message: `${brand} has no such database: ${where}`, hint: `create it (${create})` };
}

/** The ConnectionError (`connect_failed`) for a failed connect; without a recognised problem, the driver's own message. */
export function explainConnectError(error: unknown, target: ConnectTarget, problem: ConnectProblem | null): ConnectionError {
  const fix = `fix nodes.${target.nodeName}.url in the config`;
  const detail = (error as { message?: string } | null)?.message ?? String(error);
  const { message, hint, fixUrl = true } = problem ?? { message: `cannot connect to ${target.brand} at ${target.where}: ${detail}` };
  const fullHint = !fixUrl ? hint : hint ? `${hint}, or ${fix}` : fix;
  return new ConnectionError(
    'connect_failed',
    `node ${target.nodeName}: ${message}`,
    { hint: fullHint, node: target.nodeName },
    { cause: error },
  );
}

/** A URL dsync cannot use: `message` says why (the URL in it redacted), `hint` shows the right form. */
export function badUrl(nodeName: string, message: string, hint: string): ConnectionError {
  return new ConnectionError('bad_url', `node ${nodeName}: ${message}`, { hint, node: nodeName });
}

/** The end of every connection hint: where the fix goes. */
export function fixUrlHint(nodeName: string): string {
  return `fix nodes.${nodeName}.url in the config`;
}
