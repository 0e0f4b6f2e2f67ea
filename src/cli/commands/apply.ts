import { getNode } from '../../config/config.ts';
import { applyToNode } from '../../migrate/apply.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { printJson } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

export const applyCommand: Command<GlobalArgs & { node?: string; dryRun: boolean; json: boolean }> = {
  command: 'apply',
  describe: 'apply the generated SQL of each node, recorded in ds_schema_migrations',
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'only this node' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'print what would run, change nothing' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const nodeNames = args.node ? [getNode(config, args.node).name] : Object.keys(config.nodes);
    const results = [];
    for (const name of nodeNames) {
      // One node open at a time, closed before the next (as before the library call existed).
      const nodes = new NodeSet(config);
      const result = await applyToNode(config, nodes, name, { dryRun: args.dryRun }).finally(() => nodes.closeAll());
      results.push(result);
      for (const warning of result.warnings) console.error(`dsync: warning: ${warning}`);
      if (args.json) continue;
      const todo = result.steps.filter((s) => s.action !== 'skip');
      console.log(
        `node ${name}: ${todo.length === 0 ? 'up to date, nothing to apply' : `${args.dryRun ? 'would apply' : 'applied'} ${todo.length} file(s)`}`,
      );
      for (const step of todo) console.log(`  ${step.action.padEnd(7)} ${step.file} (${step.statements} statements)`);
    }
    if (args.json) printJson(results);
    return 0;
  },
};
