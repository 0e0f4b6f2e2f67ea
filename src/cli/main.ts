/**
 * `dsync [--config FILE] COMMAND`: the command modules in ./commands, exit codes
 * 0 ok, 1 differences found, 2 usage or config error, 3 runtime failure.
 */
import { DSYNC_VERSION } from '../core/version.ts';
import { ConfigError } from '../core/errors.ts';
import { commandsFor, namedCommand } from './commands/index.ts';
import { EXIT, exitCodeFor, printError, printLine } from './output.ts';

export async function main(argv: string[]): Promise<number> {
  // `dsync --version` answers before the argument parser and the commands load (they cost more than Node's own start).
  if (namedCommand(argv) === undefined && argv.includes('--version') && !argv.includes('--help')) {
    printLine(DSYNC_VERSION);
    return EXIT.ok;
  }
  const [{ default: yargs }, commands] = await Promise.all([import('yargs'), commandsFor(argv)]);
  let exitCode: number = EXIT.ok;
  let verbose = argv.includes('--verbose');
  const parser = yargs(argv)
    .scriptName('dsync')
    .usage('$0 [--config FILE] <command>\n\nKeep tables in sync between PostgreSQL, SQLite, SQL Server and MySQL/MariaDB.')
    .option('config', { type: 'string', describe: 'config file (default: $DSYNC_CONFIG or ./dsync.config.json)', global: true })
    .option('verbose', { type: 'boolean', default: false, describe: 'print causes and stacks of errors', global: true })
    .version(DSYNC_VERSION)
    .strict()
    .demandCommand(1, 'name a command; `dsync --help` lists them')
    .recommendCommands()
    .exitProcess(false)
    .fail((message, error) => {
      throw error ?? new ConfigError('usage', message ?? 'invalid command line', { hint: 'see `dsync --help`' });
    });
  for (const command of commands) {
    parser.command(command.command, command.describe, command.builder, async (args) => {
      verbose = Boolean(args.verbose);
      exitCode = await command.run(args as never);
    });
  }
  try {
    await parser.parseAsync();
  } catch (error) {
    printError(error, verbose);
    return exitCodeFor(error);
  }
  return exitCode;
}
