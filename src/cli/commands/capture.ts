/** `dsync capture --node N [--table T] [--deletes]`: one capture pass over the node's tables in modes query, keys and log (docs/capture-modes.md). */
import { getNode } from '../../config/config.ts';
import { capturePass } from '../../runtime/capture/capture-pass.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const captureCommand: Command<GlobalArgs & { node: string; table?: string; deletes: boolean; json: boolean }> = {
  command: 'capture',
  describe: 'one capture pass over the tables of a node in capture mode query, keys or log: changed rows → outbox',
  builder: (y) =>
    y
      .option('node', { type: 'string', demandOption: true, describe: 'node name from the config' })
      .option('table', { type: 'string', describe: 'only this table' })
      .option('deletes', { type: 'boolean', default: false, describe: 'also scan the whole table for deletes now' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    getNode(config, args.node);
    const nodes = new NodeSet(config);
    try {
      const results = await capturePass(config, nodes, args.node, { table: args.table, deletes: args.deletes });
      if (args.json) printJson(results);
      else if (results.length === 0) printLine(`node ${args.node}: no table in capture mode query, keys or log; nothing to do`);
      else
        for (const r of results)
          printLine(
            r.mode === 'log'
              ? `node ${r.node} (log): ${r.captured} change(s) captured from ${r.transactions} transaction(s) of slot ${r.slot}${r.busy ? ', busy: another pass holds the slot' : ''}`
              : `node ${r.node} ${r.table} (${r.mode}): ${r.inserted} insert(s), ${r.updated} update(s), ${r.deleted} delete(s) captured from ${r.read} ${r.mode === 'keys' ? 'noted key(s)' : 'row(s)'} read${r.scanned ? ', whole table scanned' : ''}`,
          );
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};
