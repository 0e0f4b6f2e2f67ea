/**
 * `dsync purge`: retention for the sync tables. Outbox rows every transport from the
 * node has passed, and inbox rows the import has passed, are deleted — except inbox
 * rows a parked change or a pending update still needs. No decision reads them after
 * that: versions live in ds_row_version (docs/convergence.md), so a purge in the middle
 * of a run changes no outcome.
 */
import { type Config, type ProgramConfig, programHome } from '../config/config.ts';
import type { DbClient, Row } from '../core/dialect.ts';
import type { NodeSet } from './nodes.ts';
import { readProgramState } from './program-state.ts';

export interface PurgeResult {
  node: string;
  outboxDeleted: number;
  inboxDeleted: number;
  /** Highest outbox id now gone (the smallest transport pointer), or null when the outbox was kept. */
  outboxUpTo: number | null;
  inboxUpTo: number | null;
}

/** Deletes rows of `table` up to id `upTo` (and `keep` allows), in slices so a large backlog never holds one huge transaction. */
async function deleteUpTo(client: DbClient, table: 'ds_change_outbox' | 'ds_change_inbox', upTo: number, keep = ''): Promise<number> {
  const p = client.dialect.sql.param;
  const { rows } = await client.query<Row>(`SELECT min(id) AS id FROM ${table}`);
  let from = rows[0].id === null ? upTo : Number(rows[0].id) - 1;
  let deleted = 0;
  while (from < upTo) {
    const to = Math.min(upTo, from + 10_000);
    deleted += (await client.query(`DELETE FROM ${table} WHERE id > ${p(1)} AND id <= ${p(2)}${keep}`, [from, to])).rowCount;
    from = to;
  }
  return deleted;
}

/**
 * The lowest pointer of `programs` on the node, read one after the other: statements asked for at once on
 * one connection would run one at a time all the same (postgres-driver.ts inTurn).
 */
async function lowestPointer(client: DbClient, programs: readonly ProgramConfig[], nodeName: string): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (const program of programs) lowest = Math.min(lowest, (await readProgramState(client, program, nodeName)).pointer);
  return lowest;
}

export async function purgeNode(config: Config, nodes: NodeSet, nodeName: string): Promise<PurgeResult> {
  const { client } = await nodes.get(nodeName);
  const result: PurgeResult = { node: nodeName, outboxDeleted: 0, inboxDeleted: 0, outboxUpTo: null, inboxUpTo: null };
  const home = config.programs.filter((p) => programHome(p) === nodeName);
  const transports = home.filter((p) => p.type === 'transport');
  if (transports.length > 0) {
    result.outboxUpTo = await lowestPointer(client, transports, nodeName);
    result.outboxDeleted = await deleteUpTo(client, 'ds_change_outbox', result.outboxUpTo);
  }
  const imports = home.filter((p) => p.type === 'import');
  if (imports.length > 0) {
    result.inboxUpTo = await lowestPointer(client, imports, nodeName);
    result.inboxDeleted = await deleteUpTo(
      client,
      'ds_change_inbox',
      result.inboxUpTo,
      " AND id NOT IN (SELECT inbox_id FROM ds_change_error WHERE status IN ('open', 'waiting')) AND id NOT IN (SELECT inbox_id FROM ds_change_pending)",
    );
  }
  return result;
}

/** Every node that holds a program's pointer, or only `nodeName`. */
export async function purge(config: Config, nodes: NodeSet, nodeName?: string): Promise<PurgeResult[]> {
  const names = nodeName ? [nodeName] : [...new Set(config.programs.map(programHome))];
  const out: PurgeResult[] = [];
  for (const name of names) out.push(await purgeNode(config, nodes, name));
  return out;
}
