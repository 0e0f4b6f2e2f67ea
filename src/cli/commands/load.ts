/** `dsync load --from A --to B [--table T]`: copies the rows a table already holds on A to B (docs/onboarding.md). */
import { getNode } from '../../config/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { type LoadReport, type LoadTableReport, loadNodes } from '../../runtime/load/load.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { EXIT, printJson } from '../output.ts';
import { createProgress } from '../progress.ts';
import type { Command, GlobalArgs } from './command.ts';

interface LoadArgs extends GlobalArgs {
  from: string;
  to: string;
  table?: string;
  chunkRows: number;
  dryRun: boolean;
  restart: boolean;
  show: number;
  json: boolean;
}

const keyText = (key: Record<string, unknown>) => {
  const values = Object.values(key);
  return values.length === 1 ? JSON.stringify(values[0]) : JSON.stringify(key);
};

const RESOLUTION_TEXT = {
  equal: 'already equal',
  source: 'the source row won',
  target: 'the target row was kept',
  merged: 'merged column by column',
  'deleted-at-target': 'deleted at the target since: left deleted',
  manual: 'differs, kept under the manual policy: settle it by hand (dsync verify --repair takes the source row)',
} as const;

function describe(report: LoadReport, t: LoadTableReport, show: number): string[] {
  if (t.status === 'finished-before') return [`${t.table}: loaded before by run ${t.runId} (--restart loads it again)`];
  const verb = t.status === 'dry-run' ? 'would insert' : 'inserted';
  const resumed = t.resumedAfter ? `, continued after key ${JSON.stringify(t.resumedAfter)}` : '';
  const rate = t.seconds > 0 ? Math.round(t.rowsRead / t.seconds) : t.rowsRead;
  const lines = [
    `${t.table}: ${t.rowsRead} row(s) read from ${report.from}; ${verb} ${t.inserted}, ${t.status === 'dry-run' ? 'would update' : 'updated'} ${t.updated} on ${report.to} (${t.seconds.toFixed(1)} s, ${rate} rows/s${resumed})`,
  ];
  for (const [resolution, n] of Object.entries(t.existing))
    lines.push(`  ${n} row(s) already on ${report.to}: ${RESOLUTION_TEXT[resolution as keyof typeof RESOLUTION_TEXT]}`);
  for (const e of t.listed.slice(0, show))
    lines.push(`  ${keyText(e.key)}  ${e.resolution}${e.columns.length ? `: ${e.columns.join(', ')}` : ''}`);
  if (t.pendingMerged) lines.push(`  ${t.pendingMerged} update(s) that were waiting for these rows merged`);
  return lines;
}

export const loadCommand: Command<LoadArgs> = {
  command: 'load',
  describe: 'copy the rows a table already holds on one node to another (onboarding); resumable',
  builder: (y) =>
    y
      .option('from', { type: 'string', demandOption: true, describe: 'source node' })
      .option('to', { type: 'string', demandOption: true, describe: 'target node' })
      .option('table', { type: 'string', describe: 'only this table (default: every synchronized table)' })
      .option('chunk-rows', { type: 'number', default: 1000, describe: 'rows per chunk (one commit each)' })
      .option('dry-run', { type: 'boolean', default: false, describe: 'list what would be done; write nothing' })
      .option('restart', { type: 'boolean', default: false, describe: 'load tables again that an earlier run finished' })
      .option('show', { type: 'number', default: 20, describe: 'rows already on the target listed per table' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    getNode(config, args.from);
    getNode(config, args.to);
    if (args.from === args.to)
      throw new ConfigError('same_node', 'load: --from and --to name the same node', { hint: 'name two different nodes' });
    if (!Number.isInteger(args.chunkRows) || args.chunkRows < 1)
      throw new ConfigError('bad_option', `--chunk-rows must be a positive integer, got ${args.chunkRows}`, {
        hint: 'e.g. --chunk-rows 1000',
      });
    const names = args.table ? [args.table] : config.tables.map((t) => t.name);
    const nodes = new NodeSet(config);
    const progress = createProgress();
    let report: LoadReport;
    try {
      const [source, target] = [await nodes.get(args.from), await nodes.get(args.to)];
      report = await loadNodes(config, source, target, names, {
        chunkRows: args.chunkRows,
        dryRun: args.dryRun,
        restart: args.restart,
        maxListed: Math.max(args.show, args.json ? 1000 : 0),
        onProgress: (p) => progress.update(`load ${p.table}`, p.rows, p.total),
      });
    } finally {
      progress.stop();
      await nodes.closeAll();
    }
    if (args.json) printJson(report);
    else {
      for (const w of report.warnings) console.log(`warning: ${w}`);
      for (const t of report.tables) for (const line of describe(report, t, args.show)) console.log(line);
    }
    return EXIT.ok;
  },
};
