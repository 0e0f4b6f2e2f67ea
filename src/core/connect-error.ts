/**
 * The one wording of a failed connection, for every dialect's driver: "node N: what
 * happened", a hint that ends with the fix of nodes.N.url, the driver's error as the cause.
 * Drivers show the URL through redactUrl; DsyncError redacts the whole message and hint
 * again, so a driver message that quotes the URL or its password cannot leak it.
 */
import { ConnectionError } from './errors.ts';

/** Socket errors that mean nothing answers at that address. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOENT']);

export function isUnreachable(code: string | undefined): boolean {
  return code !== undefined && UNREACHABLE.has(code);
}

export function fixUrlHint(nodeName: string): string {
  return `fix nodes.${nodeName}.url in the config`;
}

/**
 * `hint` says what to try first; ", or fix nodes.N.url in the config" follows unless
 * `urlFix` is false (a lock held elsewhere is not the URL's fault).
 */
export function connectFailed(nodeName: string, message: string, hint: string | null, cause: unknown, urlFix = true): ConnectionError {
  const fix = fixUrlHint(nodeName);
  const fullHint = !urlFix ? (hint ?? undefined) : hint ? `${hint}, or ${fix}` : fix;
  return new ConnectionError('connect_failed', `node ${nodeName}: ${message}`, { hint: fullHint, node: nodeName }, { cause });
}

/** A URL dsync cannot use: `message` says why (the URL in it redacted), `hint` shows the right form. */
export function badUrl(nodeName: string, message: string, hint: string): ConnectionError {
  return new ConnectionError('bad_url', `node ${nodeName}: ${message}`, { hint, node: nodeName });
}
