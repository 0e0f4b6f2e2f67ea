/**
 * `dsync verify A B [--table T] [--repair [--dry-run]]`: compares the synchronized tables of
 * two nodes row by row; exit 1 on differences. `--repair` makes B equal to A through B's
 * normal change path (src/verify/repair.ts) and compares again.
 */
import { ConfigError } from '../../core/errors.ts';
import { NodeSet } from '../../runtime/nodes.ts';
import { type CompareResult, compareTables, hasDifferences } from '../../verify/compare-tables.ts';
import { countRows } from '../../verify/range-reader.ts';
import { getNode } from '../../config/config.ts';
import { tableOn } from '../../verify/verify-nodes.ts';
import { planRepairs, type RepairReport, repairTable } from '../../verify/repair.ts';
import { createProgress } from '../progress.ts';
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
  repair: boolean;
  dryRun: boolean;
}

interface TableReport {
  table: string;
  /** Set when the table is missing on a node (a difference) instead of compared. */
  missingOn?: string;
  result?: CompareResult;
  seconds: number;
  /** With --repair: what was (or on a dry run, would be) written at B, and the compare after it. */
  repair?: RepairReport;
  after?: CompareResult;
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
  if (report.repair) {
    const { actions, repaired, skipped } = report.repair;
    if (!report.after) {
      lines.push(`  --dry-run: would write ${actions.length} row(s) on ${b} as its own changes (forwarded like any change):`);
      for (const action of actions.slice(0, show)) {
        lines.push(`  would ${action.kind} ${keyText(action.key)}${action.kind === 'update' ? ` set ${action.columns.join(', ')}` : ''}`);
      }
      if (actions.length > show) lines.push(`  … and ${actions.length - show} more`);
    } else {
      lines.push(
        `  repaired ${repaired} row(s) on ${b} as its own changes (forwarded like any change)${skipped ? `; ${skipped} skipped: changed on ${a} meanwhile` : ''}`,
      );
      lines.push(
        hasDifferences(report.after) ? `  after repair: ${report.after.differenceCount} row(s) still differ` : '  after repair: equal',
      );
    }
  }
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
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable output' })
      .option('repair', {
        type: 'boolean',
        default: false,
        describe: 'make <b> equal to <a>: each difference written at <b> as its own change',
      })
      .option('dry-run', { type: 'boolean', default: false, describe: 'with --repair: list what it would change' }),
  async run(args) {
    const config = loadConfig(args.config);
    getNode(config, args.a);
    getNode(config, args.b);
    if (args.dryRun && !args.repair)
      throw new ConfigError('bad_option', '--dry-run goes with --repair', { hint: 'dsync verify A B --repair --dry-run' });
    const names = args.table ? [args.table] : config.tables.map((t) => t.name);
    const nodes = new NodeSet(config);
    const reports: TableReport[] = [];
    const progress = createProgress();
    try {
      const [a, b] = [await nodes.get(args.a), await nodes.get(args.b)];
      for (const name of names) {
        const started = performance.now();
        const [tableA, tableB] = [await tableOn(a, name), await tableOn(b, name)];
        if (!tableA || !tableB) {
          reports.push({ table: name, missingOn: [!tableA && args.a, !tableB && args.b].filter(Boolean).join(' and '), seconds: 0 });
          continue;
        }
        const sides = [
          { client: a.client, table: tableA },
          { client: b.client, table: tableB },
        ] as const;
        // A bar needs a total; plain progress lines (logs) do without the extra count.
        const total = process.stderr.isTTY ? await countRows(a.client, tableA) : 0;
        const options = {
          segmentRows: args.segmentRows,
          // A repair needs every difference, not the first thousand.
          maxListed: args.repair ? Number.POSITIVE_INFINITY : 1000,
          onProgress: (p: { rowsA: number }) => progress.update(`verify ${name}`, p.rowsA, total),
        };
        const result = await compareTables(sides[0], sides[1], options);
        progress.stop();
        const report: TableReport = { table: name, result, seconds: (performance.now() - started) / 1000 };
        if (args.repair && hasDifferences(result)) {
          report.repair = await repairTable(sides[0], sides[1], planRepairs(result.differences, result.columns), args.dryRun);
          if (!args.dryRun) {
            report.after = await compareTables(sides[0], sides[1], options);
            progress.stop();
          }
        }
        reports.push(report);
      }
    } finally {
      progress.stop();
      await nodes.closeAll();
    }
    const differ = reports.some((r) => r.missingOn || hasDifferences(r.after ?? r.result!));
    if (args.json) printJson({ a: args.a, b: args.b, equal: !differ, tables: reports });
    else for (const report of reports) for (const line of describe(report, args.a, args.b, args.show)) printLine(line);
    return differ ? EXIT.differences : EXIT.ok;
  },
};
