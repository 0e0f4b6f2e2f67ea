/**
 * The common case of a large import batch merged by the server (Dialect.serverMerge,
 * docs/performance.md "the server merges the common case"): where the brand offers it, the
 * changes the planner would apply with no conflict are decided and written by the server from
 * the inbox rows it holds, in the batch's transaction, before the planner takes the rest. Their
 * payloads are neither read nor decoded here.
 *
 * Used only where nothing the planner does besides writing rows and entries can concern them:
 * no forwarding (the node has no transport of its own: the applied record is not written), no
 * pending update (an insert could release one), no query-mode shadow for the table; a change of a
 * row with a parked change waits behind it (the planner's), `exclude`. The server takes no change
 * whose row another change of the batch touches, so same-row order stays the planner's. Any failure rolls
 * the server's part back and leaves the whole batch to the planner. Used where the brand's
 * `byDefault` says so, unless `DSYNC_SERVER_MERGE` is `on` or `off` (turnedOn; the tests compare both).
 */
import type { DbClient, ServerMerge } from '../../core/dialect.ts';
import { ConfigError } from '../../core/errors.ts';
import type { TableSchema } from '../../core/schema.ts';

/** Fewer changes than this are the planner's alone (a small batch reads ahead and defers its writes; little to gain). */
export const SERVER_MERGE_AT_LEAST = 64;

export interface ServerMergeScope {
  forwards: boolean;
  /** False on a receive-only node: the server decides as if no row had an entry, and writes none (ServerMerge.apply). */
  keepsVersions?: boolean;
  tables: ReadonlyMap<string, TableSchema>;
  queryTables?: ReadonlyMap<string, string | null>;
  /** Tables in capture mode log: the planner captures the log before it merges into them. */
  logTables?: readonly string[];
}

/**
 * `DSYNC_SERVER_MERGE=on|off`, else the brand's choice (ServerMerge.byDefault). On a database
 * server of its own the merge costs less CPU in all but moves the work from dsync's process to the
 * server, and with a core to spare the import takes longer, not less (docs/performance.md,
 * 2026-12-01): the planner's decoding ran beside the server's writes, the server's merge runs alone.
 */
function turnedOn(merge: ServerMerge): boolean {
  const said = process.env.DSYNC_SERVER_MERGE;
  if (said === undefined || said === '') return merge.byDefault;
  if (said === 'on' || said === 'off') return said === 'on';
  throw new ConfigError('bad_environment', `DSYNC_SERVER_MERGE is "${said}"`, {
    hint: "set it to on or off, or unset it for each brand's default",
  });
}

/** The brand merges a large batch on the server, and DSYNC_SERVER_MERGE leaves that on. */
export function serverMergeOn(dialect: DbClient['dialect']): boolean {
  const merge = dialect.serverMerge;
  return merge !== undefined && turnedOn(merge);
}

/** The batch may be merged by the server as far as the node and its size go (the parked set is looked at in the transaction). */
export function serverMergeMay(dialect: DbClient['dialect'], scope: ServerMergeScope, size: number): boolean {
  return !scope.forwards && size >= SERVER_MERGE_AT_LEAST && serverMergeOn(dialect);
}

/**
 * Merges the common case of the inbox rows with ids in (from, to] of the tables `tableNames` names,
 * but `exclude`, on the server, in a savepoint of `tx` (capture silenced by the caller); returns the inbox ids it
 * applied, none when it failed (rolled back: the planner does all).
 */
export async function mergeOnServer(
  tx: DbClient,
  scope: ServerMergeScope,
  tableNames: ReadonlySet<string>,
  range: { from: number; to: number },
  exclude: readonly number[],
): Promise<Set<number>> {
  const merge = tx.dialect.serverMerge!;
  const tables = [...scope.tables.values()].filter(
    (t) => tableNames.has(t.name) && !scope.queryTables?.has(t.name) && !scope.logTables?.includes(t.name) && merge.supports(t),
  );
  const taken = new Set<number>();
  if (tables.length === 0) return taken;
  try {
    await tx.transaction(async (sp) => {
      for (const table of tables)
        for (const id of await merge.apply(sp, table, range, exclude, scope.keepsVersions !== false)) taken.add(id);
    });
  } catch (error) {
    if (tx.dialect.isTransient(error)) throw error;
    // A value the table cannot read, a constraint: rolled back, the planner does the batch (and parks what fails).
    taken.clear();
  }
  return taken;
}
