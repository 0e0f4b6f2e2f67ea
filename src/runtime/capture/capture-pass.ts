/**
 * Capture passes of the modes that need one (docs/capture-modes.md): trigger and api
 * capture as the writes happen; log reads the node's change log when a pass runs.
 * `dsync sync` runs them before its transports, each round.
 */
import { captureMode, type Config } from '../../config/config.ts';
import type { NodeSet } from '../nodes.ts';
import { captureLogPass, type LogCaptureResult } from './log-capture.ts';

/** Nodes with at least one table in mode log. */
export function logCaptureNodes(config: Config): string[] {
  return Object.keys(config.nodes).filter((node) => config.tables.some((t) => captureMode(config, node, t.name) === 'log'));
}

/** One pass of every node that needs one (or of `only`). */
export async function capturePasses(config: Config, nodes: NodeSet, only?: string): Promise<LogCaptureResult[]> {
  const results: LogCaptureResult[] = [];
  for (const node of logCaptureNodes(config)) {
    if (only !== undefined && node !== only) continue;
    results.push(await captureLogPass(config, await nodes.get(node)));
  }
  return results;
}
