/**
 * `dsync sync`: every program, transports before imports, round after round until a
 * round moves nothing. Echo suppression and dedupe make this terminate in any topology.
 */
import type { Config, ProgramConfig } from '../cli/config.ts';
import { type ImportResult, importOnce } from './import.ts';
import type { NodeSet } from './nodes.ts';
import { type TransportResult, transportOnce } from './transport.ts';

export interface SyncReport {
  rounds: number;
  transports: TransportResult[];
  imports: ImportResult[];
}

export async function runProgramOnce(config: Config, nodes: NodeSet, program: ProgramConfig): Promise<TransportResult | ImportResult> {
  if (program.type === 'transport') return transportOnce(program, await nodes.get(program.from), await nodes.get(program.to));
  return importOnce(config, program, await nodes.get(program.to));
}

/** How much a run did: rows moved by a transport, rows consumed by an import. */
export function workDone(result: TransportResult | ImportResult): number {
  if ('moved' in result) return result.moved + result.skippedEcho;
  return result.applied + result.unchanged + result.parked + result.waiting;
}

export async function syncAll(config: Config, nodes: NodeSet, maxRounds = 1000): Promise<SyncReport> {
  const ordered = [...config.programs.filter((p) => p.type === 'transport'), ...config.programs.filter((p) => p.type === 'import')];
  const report: SyncReport = { rounds: 0, transports: [], imports: [] };
  while (report.rounds < maxRounds) {
    report.rounds++;
    let work = 0;
    for (const program of ordered) {
      const result = await runProgramOnce(config, nodes, program);
      work += workDone(result);
      if ('moved' in result) report.transports.push(result);
      else report.imports.push(result);
    }
    if (work === 0) break;
  }
  return report;
}
