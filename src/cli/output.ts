/** How the CLI talks: one line per error with a hint, exit codes per docs/guarantees.md and README, never a password (core/redact.ts). */
import { ConfigError, DriftError, DsyncError } from '../core/errors.ts';
import { redactSecrets } from '../core/redact.ts';

export const EXIT = { ok: 0, differences: 1, usage: 2, runtime: 3 } as const;

export function exitCodeFor(error: unknown): number {
  if (error instanceof ConfigError) return EXIT.usage;
  if (error instanceof DriftError) return EXIT.differences;
  return EXIT.runtime;
}

/** Prints an error as one readable line plus a hint; the stack and its causes only with --verbose. */
export function printError(error: unknown, verbose: boolean): void {
  const say = (text: string) => console.error(redactSecrets(text));
  if (error instanceof DsyncError) {
    say(`dsync: ${error.message}`);
    if (error.hint) say(`  hint: ${error.hint}`);
  } else {
    say(`dsync: unexpected error: ${error instanceof Error ? error.message : String(error)}`);
    if (!verbose) say('  hint: run again with --verbose for details, and report it if it persists');
  }
  if (verbose) {
    // The cause chain, innermost last: driver errors carry what the database said.
    let current: unknown = error instanceof Error ? (error.cause ?? error) : error;
    for (let depth = 0; current !== undefined && depth < 5; depth++) {
      say(`${depth ? 'caused by: ' : ''}${current instanceof Error ? (current.stack ?? current.message) : String(current)}`);
      const next: unknown = current instanceof Error ? current.cause : undefined;
      current = next === current ? undefined : next;
    }
  }
}

/** One line of a command's report (a message read from a database may quote a URL). */
export function printLine(text: string): void {
  console.log(redactSecrets(text));
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? redactSecrets(v) : v), 2));
}
