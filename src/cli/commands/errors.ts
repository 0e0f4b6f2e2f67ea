/** `dsync errors`, `dsync retry ID`, `dsync skip ID`: see and resolve parked changes. */
import { ConfigError } from '../../core/errors.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { listParked } from '../../runtime/import/parking.ts';
import { resolveParkedChange } from '../../runtime/import/resolve-parked.ts';
import { type Config, getNode, programHome } from '../../config/config.ts';
import { loadConfig } from '../config-file.ts';
import { printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

/** The node parked changes live on: --node, or the only node with an import program. */
function importNode(config: Config, flag?: string): string {
  if (flag) return getNode(config, flag).name;
  const nodes = [...new Set(config.programs.filter((p) => p.type === 'import').map(programHome))];
  if (nodes.length === 1) return nodes[0];
  throw new ConfigError('node_needed', `parked changes live on the import nodes (${nodes.join(', ') || 'none configured'})`, { hint: 'name one with --node' });
}

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
    const name = importNode(config, args.node);
    const nodes = new NodeSet(config);
    try {
      const parked = await listParked((await nodes.get(name)).client, args.all);
      if (args.json) printJson(parked);
      else if (parked.length === 0) console.log(`node ${name}: no parked changes`);
      else for (const p of parked) printLine(`${String(p.id).padStart(6)} ${p.status.padEnd(8)} ${p.table} ${p.key ?? ''} (inbox ${p.inboxId}, from ${p.originServerId}#${p.originChangeId}): ${p.reason}`);
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};

function resolveCommand(action: 'retry' | 'skip'): Command<GlobalArgs & { id: number; node?: string; json: boolean }> {
  return {
    command: `${action} <id>`,
    describe: action === 'retry' ? 'apply a parked change again, then the changes waiting behind it' : 'drop a parked change, then apply the changes waiting behind it',
    builder: (y) =>
      y
        .positional('id', { type: 'number', describe: 'id from `dsync errors`' })
        .option('node', { type: 'string', describe: 'import node (default: the only one)' })
        .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
    async run(args) {
      const config = loadConfig(args.config);
      const name = importNode(config, args.node);
      const nodes = new NodeSet(config);
      try {
        const result = await resolveParkedChange(config, await nodes.get(name), args.id, action);
        if (args.json) printJson(result);
        else {
          console.log(`parked change ${result.id} ${result.action}; ${result.released} waiting change(s) applied after it`);
          if (result.newlyParked !== null) console.log(`  waiting change ${result.newlyParked} failed and is now parked: see \`dsync errors\``);
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
