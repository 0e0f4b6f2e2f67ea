/**
 * Every command by the name that starts its yargs spelling, each module loaded only when
 * its command runs (main.ts): `dsync status` loads what status needs, not the daemon,
 * the generator and the loader as well. `dsync --help`, or a name that is no command,
 * loads them all (a unit test checks each name against its command's spelling).
 */
import type { Command } from './command.ts';

export const COMMANDS: Record<string, () => Promise<Command>> = {
  init: async () => (await import('./init.ts')).initCommand,
  introspect: async () => (await import('./introspect.ts')).introspectCommand,
  generate: async () => (await import('./generate.ts')).generateCommand,
  apply: async () => (await import('./apply.ts')).applyCommand,
  plan: async () => (await import('./plan.ts')).planCommand,
  capture: async () => (await import('./capture.ts')).captureCommand,
  transport: async () => (await import('./programs.ts')).transportCommand,
  import: async () => (await import('./programs.ts')).importCommand,
  sync: async () => (await import('./programs.ts')).syncCommand,
  purge: async () => (await import('./programs.ts')).purgeCommand,
  run: async () => (await import('./run.ts')).runCommand,
  status: async () => (await import('./status.ts')).statusCommand,
  load: async () => (await import('./load.ts')).loadCommand,
  verify: async () => (await import('./verify.ts')).verifyCommand,
  errors: async () => (await import('./errors.ts')).errorsCommand,
  retry: async () => (await import('./errors.ts')).retryCommand,
  skip: async () => (await import('./errors.ts')).skipCommand,
  demo: async () => (await import('./demo.ts')).demoCommand,
};

/** Options before the command that take a value (`--config FILE`): their value is not the command. */
const VALUED = new Set(['--config']);

/** The command `argv` names: its first argument that is neither an option nor an option's value. */
export function namedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--') return argv[i + 1];
    if (VALUED.has(argv[i])) i++;
    else if (!argv[i].startsWith('-')) return argv[i];
  }
  return undefined;
}

/** The commands to register for `argv`: the one it names, or every one (help, a mistyped name). */
export async function commandsFor(argv: readonly string[]): Promise<Command[]> {
  const named = namedCommand(argv);
  const names = named !== undefined && Object.hasOwn(COMMANDS, named) ? [named] : Object.keys(COMMANDS);
  return Promise.all(names.map((name) => COMMANDS[name]()));
}
