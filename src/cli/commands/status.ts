import { NodeSet } from '../../runtime/nodes.ts';
import { readStatus } from '../../runtime/status.ts';
import { loadConfig } from '../config-file.ts';
import { printJson, printLine } from '../output.ts';
import type { Command, GlobalArgs } from './command.ts';

function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export const statusCommand: Command<GlobalArgs & { json: boolean }> = {
  command: 'status',
  describe: 'per program: pointer, backlog, lag, last run, status; parked changes per node',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'machine-readable output' }),
  async run(args) {
    const config = loadConfig(args.config);
    const nodes = new NodeSet(config);
    try {
      const report = await readStatus(config, nodes, { schema: true });
      if (args.json) {
        printJson(report);
        return 0;
      }
      for (const p of report.programs) {
        printLine(
          `program ${p.id} ${p.type.padEnd(9)} ${p.name.padEnd(28)} pointer ${String(p.pointer ?? '-').padStart(8)} backlog ${String(p.backlog ?? '-').padStart(7)} lag ${(p.lagSeconds === null ? '-' : `${p.lagSeconds.toFixed(1)}s`).padStart(8)}  ${p.status}${p.lastRunAt ? ` at ${p.lastRunAt}` : ''}${p.message ? `: ${p.message}` : ''}`,
        );
      }
      for (const n of report.parked) {
        printLine(
          n.error
            ? `node ${n.node}: ${n.error}`
            : `node ${n.node}: ${n.open} parked, ${n.waiting} waiting behind them, ${n.conflicts} conflicts recorded`,
        );
      }
      for (const n of report.drift ?? []) {
        if (n.error) printLine(`node ${n.node}: schema not checked: ${n.error}`);
        for (const t of n.tables) {
          printLine(`node ${n.node}: drift: table ${t.table}: capture triggers out of date (${t.summary}); fix: ${t.fix}`);
        }
      }
      for (const l of report.logCapture ?? []) {
        printLine(
          l.error
            ? `node ${l.node}: capture mode log: ${l.error}`
            : `node ${l.node}: capture mode log, slot ${l.slot} confirmed to ${l.confirmedLsn ?? '-'}, retains ${formatBytes(l.retainedBytes)} of WAL`,
        );
      }
    } finally {
      await nodes.closeAll();
    }
    return 0;
  },
};
