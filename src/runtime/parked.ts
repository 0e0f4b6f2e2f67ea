/**
 * Parked changes (guarantee 6, docs/guarantees.md) as library calls: list them, retry one
 * or skip one, on the node whose import parked them. `dsync errors`, `retry` and `skip`
 * are thin faces over these.
 */
import { type Config, getNode, programHome } from '../config/config.ts';
import { ConfigError, DsyncError } from '../core/errors.ts';
import { listParked, type ParkedChange } from './import/parking.ts';
import { type ResolveResult, resolveParkedChange } from './import/resolve-parked.ts';
import type { NodeSet } from './nodes.ts';

export type { ParkedChange, ResolveResult };

export interface ParkedOptions {
  /** The import node holding the parked changes (default: the only node with an import program; a ConfigError `node_needed` when there are several). */
  node?: string;
}

/** The node parked changes live on: `node`, or the only node with an import program. */
export function parkedChangeNode(config: Config, node?: string): string {
  if (node) return getNode(config, node).name;
  const nodes = [...new Set(config.programs.filter((p) => p.type === 'import').map(programHome))];
  if (nodes.length === 1) return nodes[0];
  throw new ConfigError('node_needed', `parked changes live on the import nodes (${nodes.join(', ') || 'none configured'})`, {
    hint: 'name one with --node',
  });
}

/** Parked changes of a node, oldest first: failed ones (`open`) and those `waiting` behind them; `all: true` (default false) adds resolved ones. */
export async function listParkedChanges(
  config: Config,
  nodes: NodeSet,
  options: ParkedOptions & { all?: boolean } = {},
): Promise<{ node: string; parked: ParkedChange[] }> {
  const node = parkedChangeNode(config, options.node);
  return { node, parked: await listParked((await nodes.get(node)).client, options.all ?? false) };
}

/** Applies parked change `id` again, then the changes of the same row that waited behind it, in order. */
export async function retryParkedChange(config: Config, nodes: NodeSet, id: number, options: ParkedOptions = {}): Promise<ResolveResult> {
  return resolveParkedChange(config, await nodes.get(parkedChangeNode(config, options.node)), id, 'retry');
}

/** Drops parked change `id` (it stays recorded as skipped), then applies the changes of the same row that waited behind it. */
export async function skipParkedChange(config: Config, nodes: NodeSet, id: number, options: ParkedOptions = {}): Promise<ResolveResult> {
  return resolveParkedChange(config, await nodes.get(parkedChangeNode(config, options.node)), id, 'skip');
}

export interface RetryAllResult {
  node: string;
  /** Parked changes applied (with the changes that waited behind them). */
  retried: ResolveResult[];
  /** Parked changes that failed again, with their reason: they stay parked. */
  failed: Array<{ id: number; reason: string }>;
}

/**
 * `dsync retry --all`: retries every open parked change of a node, oldest first (after a
 * schema change, one per row that changed meanwhile). One that fails again stays parked
 * and the others go on.
 */
export async function retryAllParkedChanges(config: Config, nodes: NodeSet, options: ParkedOptions = {}): Promise<RetryAllResult> {
  const node = parkedChangeNode(config, options.node);
  const handle = await nodes.get(node);
  const open = (await listParked(handle.client, false)).filter((p) => p.status === 'open');
  const result: RetryAllResult = { node, retried: [], failed: [] };
  for (const parked of open) {
    try {
      result.retried.push(await resolveParkedChange(config, handle, parked.id, 'retry'));
    } catch (error) {
      // Failed again (or resolved meanwhile by an import pass or another retry): it keeps its own status.
      if (!(error instanceof DsyncError) || handle.dialect.isTransient(error.cause ?? error)) throw error;
      if (error.code === 'resolved') continue;
      result.failed.push({ id: parked.id, reason: error.message });
    }
  }
  return result;
}
