/** `dsync verify A B [--table T]`: compares the synchronized tables of two nodes row by row; exit 1 on differences. */
import { hasDifferences } from '../../verify/compare-tables.ts';
import { type VerifyTableReport as TableReport, verifyNodes } from '../../verify/verify-nodes.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { loadConfig } from '../config-file.ts';
import { EXIT, printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

interface VerifyArgs extends GlobalArgs {
  a: string;
  b: string;
  table?: string;
  json: boolean;
  segmentRows: number;
  show: number;
}

const keyText = (key: Record<string, unknown>) => {
  const values = Object.values(key);
  return values.length === 1 ? JSON.stringify(values[0]) : JSON.stringify(key);
};

function describe(report: TableReport, a: string, b: string, show: number): string[] {
  if (report.missingOn) return [`${report.table}: missing on ${report.missingOn}`];
  const r = report.result!;
  const lines: string[] = [];
  const counts = `${r.rowsA} row(s) on ${a}, ${r.rowsB} on ${b}, ${r.segments} segment(s) in ${report.seconds.toFixed(1)} s`;
  if (!hasDifferences(r)) return [`${r.table}: equal (${counts})`];
  const kinds = { changed: 0, missing: 0, extra: 0 };
  for (const d of r.differences) kinds[d.kind]++;
  lines.push(`${r.table}: ${r.differenceCount} row(s) differ (${counts})`);
  if (r.onlyOnA.length) lines.push(`  columns only on ${a}: ${r.onlyOnA.join(', ')} (not compared)`);
  if (r.onlyOnB.length) lines.push(`  columns only on ${b}: ${r.onlyOnB.join(', ')} (not compared)`);
  for (const d of r.differences.slice(0, show)) {
    const what = d.kind === 'changed' ? `changed: ${d.columns.join(', ')}` : d.kind === 'missing' ? `missing on ${b}` : `only on ${b}`;
    lines.push(`  ${keyText(d.key)}  ${what}`);
  }
  if (r.differenceCount > show) lines.push(`  … and ${r.differenceCount - show} more (--show N lists more, --json lists up to 1000)`);
  return lines;
}

export const verifyCommand: Command<VerifyArgs> = {
  command: 'verify <a> <b>',
  describe: 'compare the synchronized tables of two nodes row by row; exit 1 when they differ',
  builder: (y) =>
    y
      .positional('a', { type: 'string', describe: 'node name from the config' })
      .positional('b', { type: 'string', describe: 'node name from the config' })
      .option('table', { type: 'string', describe: 'only this table' })
      .option('segment-rows', { type: 'number', default: 1000, describe: 'rows per compared segment' })
      .option('show', { type: 'number', default: 20, describe: 'differing keys listed per table' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const nodes = new NodeSet(config);
    const report = await verifyNodes(config, nodes, args.a, args.b, { table: args.table, segmentRows: args.segmentRows }).finally(() => nodes.closeAll());
    if (args.json) printJson(report);
    else for (const table of report.tables) for (const line of describe(table, args.a, args.b, args.show)) printLine(line);
    return report.equal ? EXIT.ok : EXIT.differences;
  },
};
