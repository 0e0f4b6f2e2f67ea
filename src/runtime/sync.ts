/**
 * `dsync sync`: every program, transports before imports, round after round until a
 * round moves nothing. Echo suppression and dedupe make this terminate in any topology.
 */
import { type Config, type ProgramConfig, programHome } from '../config/config.ts';
import type { Row } from '../core/dialect.ts';
import { DsyncError } from '../core/errors.ts';
import { type CaptureResult, capturePass, captured, passCaptured } from './capture/capture-pass.ts';
import { type ImportResult, importOnce } from './import/import.ts';
import type { NodeSet } from './nodes.ts';
import { checkPointer, readProgramState, saveProgramState } from './program-state.ts';
import { directTransportOnce } from './transport/direct-apply.ts';
import { type MovedBatch, type SendingBatch, type TransportResult, transportOnce } from './transport/transport.ts';
import type { Halves } from './transport/nats-transport.ts';

export interface SyncReport {
  rounds: number;
  /** Capture passes over tables in capture mode query, keys or log (per node and round). */
  captures: CaptureResult[];
  /** Rows still held back by a horizon when sync gave up waiting (an open transaction on a node). */
  heldBack: number;
  transports: TransportResult[];
  imports: ImportResult[];
}

/**
 * The part of `program` a daemon scoped to `node` runs (`dsync run --node`), or null:
 * an import on its node; a direct transport where it reads (its source); a NATS
 * transport's publish half at its source and its deliver half at its destination.
 * Without a node, all of it.
 */
export function programScope(program: ProgramConfig, node?: string): Halves | null {
  if (node === undefined) return { publish: true, deliver: true };
  if (program.type === 'import') return program.node === node ? { publish: true, deliver: true } : null;
  if (!program.via) return program.from === node ? { publish: true, deliver: true } : null;
  const halves = { publish: program.from === node, deliver: program.to === node };
  return halves.publish || halves.deliver ? halves : null;
}

/** What the daemon passes from a direct transport to the import it wakes. */
export interface HandOver {
  /** Called when a direct transport's inbox write committed (transportOnce, which awaits it). */
  onMoved?: (moved: MovedBatch) => Promise<void> | void;
  /** Called when a direct transport has sent a small batch's inbox write (transportOnce). */
  onSending?: (sending: SendingBatch) => void;
  /** Inbox rows a transport of the daemon handed to this import (importOnce's `handed`). */
  handed?: Row[];
  /** An inbox write a transport of the daemon has sent for this import (importOnce's `sending`). */
  sending?: SendingBatch;
}

/** One pass of a program; for a transport `via` NATS, of the halves asked for (both by default). */
export async function runProgramOnce(
  config: Config,
  nodes: NodeSet,
  program: ProgramConfig,
  halves?: Halves,
  handOver: HandOver = {},
): Promise<TransportResult | ImportResult> {
  // Direct transports and imports check their pointer against the horizon they read (refusePointerAhead);
  // a deliver-only pass need not reach the source, where the pointer lives.
  if (program.type === 'transport' && program.via) {
    if (halves?.publish !== false) await refuseViaPointerAhead(nodes, program);
    const { natsTransportOnce } = await import('./transport/nats-transport.ts');
    return natsTransportOnce(config, nodes, program, halves);
  }
  if (program.type === 'transport' && config.nodes[program.to]?.directApply) {
    return directTransportOnce(config, program, await nodes.get(program.from), await nodes.get(program.to), handOver.onMoved);
  }
  if (program.type === 'transport')
    return transportOnce(program, await nodes.get(program.from), await nodes.get(program.to), handOver.onMoved, handOver.onSending);
  return importOnce(config, program, await nodes.get(program.node), handOver.handed, handOver.sending);
}

/**
 * A pass whose pointer is above its table's id counter would idle while every new change
 * is skipped: it stops with `pointer_ahead` instead, recorded on the program's row.
 * (Two small reads per pass; at home in the passes themselves, which read the pointer anyway.)
 */
async function refuseViaPointerAhead(nodes: NodeSet, program: ProgramConfig): Promise<void> {
  const home = programHome(program);
  const { client } = await nodes.get(home);
  const state = await readProgramState(client, program, home);
  const table = program.type === 'transport' ? 'ds_change_outbox' : 'ds_change_inbox';
  try {
    await checkPointer(client, program.id, table, state.pointer);
  } catch (error) {
    if (error instanceof DsyncError)
      await saveProgramState(client, program.id, { status: 'error', message: `${error.message}; fix: ${error.hint}` });
    throw error;
  }
}

/**
 * One pass that settles: when committed rows wait above a horizon (a transaction that
 * took a lower id is still open), look again every 200 ms for up to `settleSeconds`
 * (not faster: MySQL's list of open transactions refreshes only after 100 ms unread),
 * so that a one-shot run moves what was committed before it started. Work done by
 * the extra looks is added up.
 */
export async function runProgramSettled(
  config: Config,
  nodes: NodeSet,
  program: ProgramConfig,
  settleSeconds = 15,
): Promise<TransportResult | ImportResult> {
  const deadline = Date.now() + settleSeconds * 1000;
  const first = await runProgramOnce(config, nodes, program);
  let last = first;
  while (last.heldBack > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await runProgramOnce(config, nodes, program);
    for (const key of [
      'moved',
      'skippedEcho',
      'published',
      'delivered',
      'applied',
      'unchanged',
      'conflicts',
      'parked',
      'waiting',
      'pending',
      'replayed',
      'inboxed',
    ] as const) {
      if (key in first) (first as unknown as Record<string, number>)[key] += (last as unknown as Record<string, number>)[key];
    }
  }
  return { ...first, pointer: last.pointer, horizon: last.horizon, heldBack: last.heldBack };
}

/** How much a run did: rows moved by a transport, rows consumed by an import. */
export function workDone(result: TransportResult | ImportResult): number {
  if ('moved' in result) return result.moved + result.skippedEcho;
  return result.applied + result.unchanged + result.parked + result.waiting + result.pending;
}

/**
 * `dsync sync`: runs a capture pass on every node with tables in capture mode query, then
 * every program, transports then imports, round after round until a
 * round moves nothing and no committed row waits above a horizon. Rows held back by a
 * transaction still open on a node are waited for, up to `waitSeconds` (default 30);
 * at most `maxRounds` rounds (default 1000). Parked changes do not stop it: they are
 * counted in the report.
 */
export async function syncAll(
  config: Config,
  nodes: NodeSet,
  options: { maxRounds?: number; waitSeconds?: number } = {},
): Promise<SyncReport> {
  const { maxRounds = 1000, waitSeconds = 30 } = options;
  const ordered = [...config.programs.filter((p) => p.type === 'transport'), ...config.programs.filter((p) => p.type === 'import')];
  const report: SyncReport = { rounds: 0, captures: [], heldBack: 0, transports: [], imports: [] };
  const captureNodes = Object.keys(config.nodes).filter((n) => passCaptured(config, n).length > 0);
  const deadline = Date.now() + waitSeconds * 1000;
  while (report.rounds < maxRounds) {
    report.rounds++;
    let work = 0;
    let heldBack = 0;
    for (const node of captureNodes) {
      const results = await capturePass(config, nodes, node);
      for (const r of results) work += captured(r);
      report.captures.push(...results);
    }
    for (const program of ordered) {
      const result = await runProgramOnce(config, nodes, program);
      work += workDone(result);
      heldBack += result.heldBack;
      if ('moved' in result) report.transports.push(result);
      else report.imports.push(result);
    }
    report.heldBack = heldBack;
    if (work > 0) continue;
    if (heldBack === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return report;
}
