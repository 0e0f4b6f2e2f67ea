/** `dsync errors`, `dsync retry ID`, `dsync skip ID`: see and resolve parked changes. */
import { NodeSet } from '../../runtime/nodes.ts';
import { listParkedChanges, retryAllParkedChanges, retryParkedChange, skipParkedChange } from '../../runtime/parked.ts';
import { loadConfig } from '../config-file.ts';
import { EXIT, printJson, printLine } from '../output.ts';
import { ConfigError } from '../../core/errors.ts';
import type { Command, GlobalArgs } from './command.ts';

export const errorsCommand: Command<GlobalArgs & { node?: string; all: boolean; json: boolean }> = {
  command: 'errors',
  describe: 'list parked changes (failed, and those waiting behind them)',
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'import node (default: the only one)' })
      .option('all', { type: 'boolean', default: false, describe: 'include resolved ones' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const nodes = new NodeSet(config);
    try {
      const { node: name, parked } = await listParkedChanges(config, nodes, { node: args.node, all: args.all });
      if (args.json) printJson(parked);
      else if (parked.length === 0) console.log(`node ${name}: no parked changes`);
      else
        for (const p of parked)
          printLine(
            `${String(p.id).padStart(6)} ${p.status.padEnd(8)} ${p.table} ${p.key ?? ''} (inbox ${p.inboxId}, from ${p.originServerId}#${p.originChangeId}): ${p.reason}`,
          );
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};

function resolveCommand(action: 'retry' | 'skip'): Command<GlobalArgs & { id?: number; all?: boolean; node?: string; json: boolean }> {
  return {
    command: action === 'retry' ? 'retry [id]' : 'skip <id>',
    describe:
      action === 'retry'
        ? 'apply a parked change again, then the changes waiting behind it (--all: every parked change)'
        : 'drop a parked change, then apply the changes waiting behind it',
    builder: (y) => {
      const withId = y
        .positional('id', { type: 'number', describe: 'id from `dsync errors`' })
        .option('node', { type: 'string', describe: 'import node (default: the only one)' })
        .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' });
      return action === 'retry'
        ? withId.option('all', { type: 'boolean', default: false, describe: 'retry every parked change (e.g. after a column was added)' })
        : withId;
    },
    async run(args) {
      const config = loadConfig(args.config);
      if (action === 'retry' && args.all === (args.id !== undefined)) {
        throw new ConfigError('retry_what', 'dsync retry needs a parked change id or --all (not both)', {
          hint: 'ids: `dsync errors`',
        });
      }
      const nodes = new NodeSet(config);
      try {
        if (args.all) {
          const all = await retryAllParkedChanges(config, nodes, { node: args.node });
          if (args.json) printJson(all);
          else {
            const released = all.retried.reduce((n, r) => n + r.released, 0);
            console.log(
              `node ${all.node}: ${all.retried.length} parked change(s) retried, ${released} waiting change(s) applied after them, ${all.failed.length} failed again`,
            );
            for (const f of all.failed) printLine(`  ${f.id}: ${f.reason}`);
          }
          return all.failed.length ? EXIT.runtime : EXIT.ok;
        }
        const resolve = action === 'retry' ? retryParkedChange : skipParkedChange;
        const result = await resolve(config, nodes, args.id!, { node: args.node });
        if (args.json) printJson(result);
        else {
          console.log(`parked change ${result.id} ${result.action}; ${result.released} waiting change(s) applied after it`);
          if (result.newlyParked !== null)
            console.log(`  waiting change ${result.newlyParked} failed and is now parked: see \`dsync errors\``);
        }
      } finally {
        await nodes.closeAll();
      }
      return 0;
    },
  };
}

export const retryCommand = resolveCommand('retry');
export const skipCommand = resolveCommand('skip');
