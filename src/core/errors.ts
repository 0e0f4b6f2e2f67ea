/**
 * One error type for everything dsync reports to a person. `code` is stable (tests and
 * `--json` output read it); `message` is one readable line; `hint` says what to do next.
 * The CLI maps the subclass to an exit code (see cli/exit-codes.ts).
 */
export class DsyncError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: { hint?: string; [key: string]: unknown } = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
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

/** Replaces the password in a connection URL, so that URLs can appear in messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)([^@]*)@/i, '$1***@');
}

/** A short description of any thrown value, without a stack. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** A check found that what is on disk or in the database differs from what it should be. Exit 1. */
export class DriftError extends DsyncError {}
