import { runDemo } from '../../runtime/demo.ts';
import { EXIT } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const demoCommand: Command<GlobalArgs & { dir?: string; keep: boolean }> = {
  command: 'demo',
  describe: "the seed's two-app walkthrough on embedded SQLite (no server needed)",
  builder: (y) =>
    y
      .option('dir', { type: 'string', describe: 'put the databases here (kept) instead of a temporary folder' })
      .option('keep', { type: 'boolean', default: false, describe: 'keep the temporary folder' }),
  async run(args) {
    const result = await runDemo({ dir: args.dir, keep: args.keep });
    return result.ok ? EXIT.ok : EXIT.differences;
  },
};
