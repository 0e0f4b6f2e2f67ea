import type { Argv } from 'yargs';

/** One CLI command: its yargs spelling and a run that returns the exit code. */
export interface Command<A = any> {
  command: string;
  describe: string;
  builder: (yargs: Argv) => Argv<any>;
  run(args: A): Promise<number>;
}

export interface GlobalArgs {
  config?: string;
  verbose: boolean;
}
