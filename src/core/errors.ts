import { redactSecrets } from './redact.ts';

/**
 * One error type for everything dsync reports to a person. `code` is stable (tests and
 * `--json` output read it); `message` is one readable line; `hint` says what to do next.
 * The CLI maps the subclass to an exit code (see cli/exit-codes.ts). Message and hint are
 * redacted here, so no secret reaches a log or a report through one (the cause is redacted
 * where it is printed).
 */
export class DsyncError extends Error {
  readonly details: { hint?: string; [key: string]: unknown };

  constructor(
    readonly code: string,
    message: string,
    details: { hint?: string; [key: string]: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(redactSecrets(message), options);
    this.name = new.target.name;
    this.details = details.hint === undefined ? details : { ...details, hint: redactSecrets(details.hint) };
  }

  get hint(): string | undefined {
    return this.details.hint;
  }
}

/** The config file is missing, unreadable or invalid; or the command line is wrong. Exit 2. */
export class ConfigError extends DsyncError {}

/** A database could not be reached or refused us. Exit 3. */
export class ConnectionError extends DsyncError {}

/** A table could not be read from the catalog (missing, no primary key, unsupported). Exit 3. */
export class IntrospectionError extends DsyncError {}

/** A template is missing or failed to render. A bug or a broken install. Exit 3. */
export class TemplateError extends DsyncError {}

/** `dsync apply` could not apply, or found drift. Exit 3 (drift found by a check: exit 1). */
export class ApplyError extends DsyncError {}

/** A change could not be decoded or applied. Import parks these; they reach the CLI only when fatal. */
export class ChangeError extends DsyncError {}

/** The runtime cannot go on (sync objects missing, unknown program). Exit 3. */
export class RuntimeError extends DsyncError {}

/** Kept for callers that import it from here; the owner is core/redact.ts. */
export { redactUrl } from './redact.ts';

/** A short description of any thrown value, without a stack, and without secrets. */
export function describeError(error: unknown): string {
  return redactSecrets(error instanceof Error ? error.message : String(error));
}

/** A check found that what is on disk or in the database differs from what it should be. Exit 1. */
export class DriftError extends DsyncError {}

/**
 * A failure that says nothing about the data: a deadlock, a lock or statement timeout, a
 * lost connection, a full disk. The work is rolled back and tried again later; the change
 * is never parked for it. Exit 3 (the daemon retries on its next pass).
 */
export class TransientError extends DsyncError {}

/**
 * Walks an error and its causes, asking `test` of each: a driver error may arrive wrapped
 * (a DsyncError whose cause is the driver's error, or the reverse).
 */
export function anyCause(error: unknown, test: (e: { code?: unknown; errno?: unknown; number?: unknown }) => boolean): boolean {
  const seen = new Set<unknown>();
  for (let e = error; e !== null && e !== undefined && typeof e === 'object' && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    if (e instanceof TransientError) return true;
    if (test(e as { code?: unknown })) return true;
  }
  return false;
}

/** Node socket error codes: the connection went away under a statement (any brand). */
export const SOCKET_ERROR_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);
