/**
 * `dsync capture`: one capture pass over the tables of a node whose changes dsync itself
 * reads into the outbox (docs/capture-modes.md): modes query, keys and log. One branch per
 * mode; `dsync sync` and `dsync run` call the same pass.
 */
import { captureMode, type CaptureMode, type Config, getNode, queryCaptureSettings } from '../../config/config.ts';
import { ConfigError } from '../../core/errors.ts';
import type { NodeSet } from '../nodes.ts';
import { captureLogPass, type LogCaptureResult } from './log-capture.ts';
import { keysCapturePass, type QueryCaptureOptions, type QueryCaptureResult, queryCapturePass } from './query-capture.ts';

/** The modes whose changes a capture pass reads. */
const PASS_MODES: readonly CaptureMode[] = ['query', 'keys', 'log'];

export interface CapturePassOptions {
  /** Only this table (it must be in a pass mode on the node). */
  table?: string;
  /** Look for deletes now (modes query and keys: the whole-table scan), whatever the schedule. */
  deletes?: boolean;
  /** Passed to the query and keys passes (tests). */
  query?: Pick<QueryCaptureOptions, 'batchRows' | 'afterOutbox'>;
}

export type CaptureResult = ({ node: string; mode: 'query' | 'keys' } & QueryCaptureResult) | ({ mode: 'log' } & LogCaptureResult);

/** The tables of `nodeName` that a capture pass reads, with their mode, in config order. */
export function passCaptured(config: Pick<Config, 'nodes' | 'tables'>, nodeName: string): Array<{ table: string; mode: CaptureMode }> {
  return config.tables
    .map((t) => ({ table: t.name, mode: captureMode(config, nodeName, t.name) }))
    .filter((t) => PASS_MODES.includes(t.mode));
}

/** Nodes with at least one table in mode log (they have a replication slot). */
export function logCaptureNodes(config: Pick<Config, 'nodes' | 'tables'>): string[] {
  return Object.keys(config.nodes).filter((node) => config.tables.some((t) => captureMode(config, node, t.name) === 'log'));
}

/** Rows a pass wrote to the outbox. */
export const captured = (r: CaptureResult) => (r.mode === 'log' ? r.captured : r.inserted + r.updated + r.deleted);

/** One capture pass over the pass-captured tables of `nodeName` (or only `options.table`). */
export async function capturePass(
  config: Config,
  nodes: NodeSet,
  nodeName: string,
  options: CapturePassOptions = {},
): Promise<CaptureResult[]> {
  getNode(config, nodeName);
  let tables = passCaptured(config, nodeName);
  if (options.table !== undefined) {
    tables = tables.filter((t) => t.table === options.table);
    if (tables.length === 0) {
      const mode = config.tables.some((t) => t.name === options.table) ? captureMode(config, nodeName, options.table) : null;
      throw new ConfigError(
        'not_pass_captured',
        mode === null
          ? `table ${options.table} is not in the config's tables`
          : `table ${options.table} is in capture mode ${mode} on node ${nodeName}; a capture pass reads only tables in mode ${PASS_MODES.join(' or ')}`,
        { hint: 'see docs/capture-modes.md' },
      );
    }
  }
  const results: CaptureResult[] = [];
  if (tables.length === 0) return results;
  const handle = await nodes.get(nodeName);
  // The change log holds every log table of the node: one read for all of them.
  if (tables.some((t) => t.mode === 'log')) results.push({ mode: 'log', ...(await captureLogPass(config, handle)) });
  for (const { table, mode } of tables) {
    switch (mode) {
      case 'log':
        break;
      case 'query':
        results.push({
          node: nodeName,
          mode,
          ...(await queryCapturePass(handle, table, queryCaptureSettings(config, table), { ...options.query, deletes: options.deletes })),
        });
        break;
      case 'keys':
        results.push({ node: nodeName, mode, ...(await keysCapturePass(handle, table, { ...options.query, deletes: options.deletes })) });
        break;
      default:
        throw new Error(`capture mode ${mode} has no capture pass`);
    }
  }
  return results;
}
