/** How the CLI talks: one line per error with a hint, exit codes per DESIGN.md, never a password. */
import { ConfigError, DriftError, DsyncError, redactUrl } from '../core/errors.ts';

export const EXIT = { ok: 0, differences: 1, usage: 2, runtime: 3 } as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof DriftError) return EXIT.differences;
  return EXIT.runtime;
}

/** Prints an error as one readable line plus a hint; the cause and stack only with --verbose. */
export function printError(error: unknown, verbose: boolean, secrets: string[] = []): void {
  const scrub = (text: string) => secrets.reduce((t, s) => (s ? t.split(s).join('***') : t), redactUrl(text));
  if (error instanceof DsyncError) {
    console.error(scrub(`dsync: ${error.message}`));
    if (error.hint) console.error(scrub(`  hint: ${error.hint}`));
  } else {
    console.error(scrub(`dsync: unexpected error: ${error instanceof Error ? error.message : String(error)}`));
    if (!verbose) console.error('  hint: run again with --verbose for details, and report it if it persists');
  }
  if (verbose) {
    const cause = error instanceof Error ? (error.cause ?? error) : error;
    console.error(scrub(cause instanceof Error ? (cause.stack ?? cause.message) : String(cause)));
  }
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
