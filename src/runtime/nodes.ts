/**
 * The open connections of one run: each node is opened once and shared by the
 * programs that touch it, then closed together.
 */
import type { Config, NodeConfig } from '../config/config.ts';
import type { DbClient, Dialect } from '../core/dialect.ts';
import type { TableSchema } from '../core/schema.ts';
import { RuntimeError } from '../core/errors.ts';
import { getDialect } from '../dialects/registry.ts';

export interface NodeHandle {
  node: NodeConfig;
  dialect: Dialect;
  client: DbClient;
  /** The synchronized tables as last introspected here, so a busy loop does not read the catalog every pass. */
  tables?: Map<string, TableSchema>;
}

export class NodeSet {
  private readonly open = new Map<string, Promise<NodeHandle>>();

  constructor(readonly config: Config) {}

  get(name: string): Promise<NodeHandle> {
    let handle = this.open.get(name);
    if (!handle) {
      const node = this.config.nodes[name];
      handle = getDialect(node.dialect).then(async (dialect) => ({ node, dialect, client: await dialect.connect(node.url, node.name) }));
      handle.catch(() => this.open.delete(name));
      this.open.set(name, handle);
    }
    return handle;
  }

  async closeAll(): Promise<void> {
    const handles = await Promise.allSettled(this.open.values());
    this.open.clear();
    for (const h of handles) if (h.status === 'fulfilled') await h.value.client.close().catch(() => undefined);
  }
}

/** Tables that upgrade steps add: their absence beside an outbox means an older schema, not a missing one. */
const UPGRADED_TABLES = ['ds_row_version', 'ds_load_state'];

/** Fails with the fix when a node lacks the sync objects a program needs, or has an older version of them. */
export async function requireSyncObjects(handle: NodeHandle, tables: string[]): Promise<void> {
  for (const table of tables) {
    if (!(await handle.dialect.tableExists(handle.client, table))) {
      if (UPGRADED_TABLES.includes(table) && (await handle.dialect.tableExists(handle.client, 'ds_change_outbox'))) {
        throw new RuntimeError('schema_outdated', `node ${handle.node.name}: its sync objects predate this version of dsync (${table} is missing)`, {
          hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\` to upgrade them; nothing is lost`,
        });
      }
      throw new RuntimeError('not_applied', `node ${handle.node.name}: the sync objects are not applied (${table} is missing)`, {
        hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\``,
      });
    }
  }
}
