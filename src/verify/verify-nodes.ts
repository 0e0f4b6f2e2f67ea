/**
 * `dsync verify A B` as a library call: compares every synchronized table (or one) of
 * two nodes by segment hashes, and reports a table missing on a node as a difference.
 */
import { type Config, getNode } from '../config/config.ts';
import { IntrospectionError } from '../core/errors.ts';
import type { TableSchema } from '../core/schema.ts';
import type { NodeHandle, NodeSet } from '../runtime/nodes.ts';
import { type CompareResult, compareTables, hasDifferences } from './compare-tables.ts';

export interface VerifyTableReport {
  table: string;
  /** Set when the table is missing on a node (a difference) instead of compared. */
  missingOn?: string;
  result?: CompareResult;
  seconds: number;
}

export interface VerifyReport {
  a: string;
  b: string;
  /** True when every table exists on both nodes with the same rows. */
  equal: boolean;
  tables: VerifyTableReport[];
}

export interface VerifyOptions {
  /** Only this table (default: every table of the config). */
  table?: string;
  /** Rows per compared segment (default 1000). */
  segmentRows?: number;
}

/** The table on one node, or null when it does not exist there. */
export async function tableOn(handle: NodeHandle, name: string): Promise<TableSchema | null> {
  try {
    return await handle.dialect.introspect(handle.client, name);
  } catch (error) {
    if (error instanceof IntrospectionError && !(await handle.dialect.tableExists(handle.client, name))) return null;
    throw error;
  }
}

/**
 * Compares the synchronized tables of nodes `a` and `b` row by row (segment hashes
 * first, rows only where a segment differs). Read-only; `equal` is false when a table
 * differs or is missing on a node.
 */
export async function verifyNodes(
  config: Config,
  nodes: NodeSet,
  a: string,
  b: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  getNode(config, a);
  getNode(config, b);
  const names = options.table ? [options.table] : config.tables.map((t) => t.name);
  const [handleA, handleB] = [await nodes.get(a), await nodes.get(b)];
  const tables: VerifyTableReport[] = [];
  for (const name of names) {
    const started = performance.now();
    const [tableA, tableB] = [await tableOn(handleA, name), await tableOn(handleB, name)];
    if (!tableA || !tableB) {
      tables.push({ table: name, missingOn: [!tableA && a, !tableB && b].filter(Boolean).join(' and '), seconds: 0 });
      continue;
    }
    const result = await compareTables(
      { client: handleA.client, table: tableA },
      { client: handleB.client, table: tableB },
      { segmentRows: options.segmentRows ?? 1000 },
    );
    tables.push({ table: name, result, seconds: (performance.now() - started) / 1000 });
  }
  return { a, b, equal: !tables.some((t) => t.missingOn || hasDifferences(t.result!)), tables };
}
