import { getNode } from '../../config/config.ts';
import { type NodePlan, planForNode } from '../../migrate/drift.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { EXIT, printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

const ledgerWords: Record<string, string> = {
  apply: 'apply',
  reapply: 'reapply',
  skip: 'applied',
  blocked: 'blocked: applied with other content (drift applied_changed)',
  none: '',
};

export const planCommand: Command<GlobalArgs & { node?: string; json: boolean }> = {
  command: 'plan',
  describe: 'what `dsync generate` + `dsync apply` would change on each node, changing nothing (exit 1 when something is pending)',
  builder: (y) =>
    y
      .option('node', { type: 'string', describe: 'only this node' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const nodeNames = args.node ? [getNode(config, args.node).name] : Object.keys(config.nodes);
    const plans: NodePlan[] = [];
    for (const name of nodeNames) {
      const nodes = new NodeSet(config);
      plans.push(await planForNode(config, nodes, name).finally(() => nodes.closeAll()));
    }
    if (args.json) printJson(plans);
    else for (const plan of plans) printPlan(plan);
    return plans.some((p) => p.pending) ? EXIT.differences : EXIT.ok;
  },
};

function printPlan(plan: NodePlan): void {
  if (!plan.pending) {
    printLine(`node ${plan.node}: up to date (${plan.files.length} files generated and applied)`);
    return;
  }
  const toWrite = plan.files.filter((f) => f.disk !== 'unchanged').length;
  const toApply = plan.files.filter((f) => f.ledger === 'apply' || f.ledger === 'reapply').length;
  printLine(`node ${plan.node}: generate would write ${toWrite} file(s), apply would run ${toApply}`);
  for (const f of plan.files) {
    if (f.disk === 'unchanged' && (f.ledger === 'skip' || f.ledger === 'none')) continue;
    const ledger = ledgerWords[f.ledger];
    printLine(`  ${f.disk.padEnd(9)} ${f.file}${ledger ? `  ${ledger}` : ''}${f.reason ? `  (${f.reason})` : ''}`);
  }
  for (const d of plan.drift) printLine(`  drift: table ${d.table}: capture triggers out of date (${d.summary}); fix: ${d.fix}`);
}
