/**
 * The open connections of one run: each node is opened once and shared by the
 * programs that touch it, then closed together.
 */
import { type Config, getNode, type NodeConfig } from '../config/config.ts';
import type { DbClient, Dialect, Row } from '../core/dialect.ts';
import type { TableSchema } from '../core/schema.ts';
import { RuntimeError } from '../core/errors.ts';
import { upgradeSteps } from '../generate/objects.ts';
import { getDialect } from '../dialects/registry.ts';

export interface NodeHandle {
  node: NodeConfig;
  dialect: Dialect;
  client: DbClient;
  /** The synchronized tables as last introspected here, so a busy loop does not read the catalog every pass. */
  tables?: Map<string, TableSchema>;
  /** The ledger as it was when `tables` was read (see ledgerStamp in import.ts): a `dsync apply` since changes it. */
  tablesStamp?: string;
  /** Its commits do not wait for the disk (Dialect.lazyCommits): a writer must flush before anything relies on them. */
  lazyCommits?: boolean;
}

/**
 * The nodes of a config, each opened on first use and then shared; `closeAll()`
 * closes every connection it opened (call it in a `finally`). Nothing connects
 * until `get` is called, so building one is free.
 */
/** Connections whose node was found up to date (the ledger is read once per connection). */
const upgradeChecked = new WeakSet<DbClient>();
/** Sync tables already found on a connection. */
const tablesFound = new WeakMap<DbClient, Set<string>>();

export class NodeSet {
  private readonly open = new Map<string, Promise<NodeHandle>>();

  /**
   * `lazyCommits`: the connections' commits do not wait for the disk where the brand allows
   * (Dialect.lazyCommits). Only for a daemon's direct transport, which flushes its
   * destination before it moves its pointer.
   */
  constructor(
    readonly config: Config,
    private readonly options: { lazyCommits?: boolean } = {},
  ) {}

  /**
   * The open node `name`: connects on the first call, and again when the kept connection
   * was lost (killed, server restarted); an unknown name is a ConfigError (`unknown_node`).
   */
  async get(name: string): Promise<NodeHandle> {
    const kept = this.open.get(name);
    if (
      kept &&
      (await kept.then(
        (h) => h.client.lost === true,
        () => false,
      ))
    ) {
      this.open.delete(name);
      await (await kept).client.close().catch(() => undefined);
    }
    return this.connect(name);
  }

  private connect(name: string): Promise<NodeHandle> {
    let handle = this.open.get(name);
    if (!handle) {
      let node: NodeConfig;
      try {
        node = getNode(this.config, name);
      } catch (error) {
        return Promise.reject(error);
      }
      handle = getDialect(node.dialect).then(async (dialect) => {
        const client = await dialect.connect(node.url, node.name);
        if (!this.options.lazyCommits || !dialect.lazyCommits) return { node, dialect, client };
        try {
          await dialect.lazyCommits.relax(client);
        } catch (error) {
          await client.close().catch(() => undefined);
          throw error;
        }
        return { node, dialect, client, lazyCommits: true };
      });
      handle.catch(() => this.open.delete(name));
      this.open.set(name, handle);
    }
    return handle;
  }

  /** Closes every node opened so far (errors while closing are ignored); the set can be used again afterwards. */
  async closeAll(): Promise<void> {
    const handles = await Promise.allSettled(this.open.values());
    this.open.clear();
    for (const h of handles) if (h.status === 'fulfilled') await h.value.client.close().catch(() => undefined);
  }
}

/** Tables that upgrade steps add: their absence beside an outbox means an older schema, not a missing one. */
const UPGRADED_TABLES = ['ds_row_version', 'ds_load_state'];

/**
 * Fails with the fix when a node lacks the sync objects a program needs, or has an older
 * version of them: a table that is missing, or an upgrade step of this version of dsync
 * that its ledger (ds_schema_migrations) does not record. Checked once per connection.
 */
export async function requireSyncObjects(handle: NodeHandle, tables: string[]): Promise<void> {
  if (!upgradeChecked.has(handle.client) && (await handle.dialect.tableExists(handle.client, 'ds_schema_migrations'))) {
    const { rows } = await handle.client.query<Row>(`SELECT ${handle.dialect.sql.ident('file')} AS f FROM ds_schema_migrations`);
    const applied = new Set(rows.map((r) => String(r.f)));
    const missing = upgradeSteps(handle.dialect).filter((file) => !applied.has(file));
    if (missing.length > 0) {
      throw new RuntimeError(
        'schema_outdated',
        `node ${handle.node.name}: its sync objects predate this version of dsync (${missing.join(', ')} not applied)`,
        {
          hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\` to upgrade them; nothing is lost`,
        },
      );
    }
    upgradeChecked.add(handle.client);
  }
  // A table found once on a connection is not looked up again on it: a busy loop pays
  // for the catalog once (a table dropped later fails the statement that needs it).
  let found = tablesFound.get(handle.client);
  if (!found) tablesFound.set(handle.client, (found = new Set()));
  for (const table of tables) {
    if (found.has(table)) continue;
    if (await handle.dialect.tableExists(handle.client, table)) {
      found.add(table);
      continue;
    }
    if (UPGRADED_TABLES.includes(table) && (await handle.dialect.tableExists(handle.client, 'ds_change_outbox'))) {
      throw new RuntimeError(
        'schema_outdated',
        `node ${handle.node.name}: its sync objects predate this version of dsync (${table} is missing)`,
        {
          hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\` to upgrade them; nothing is lost`,
        },
      );
    }
    throw new RuntimeError('not_applied', `node ${handle.node.name}: the sync objects are not applied (${table} is missing)`, {
      hint: `run \`dsync generate --node ${handle.node.name}\` and \`dsync apply --node ${handle.node.name}\``,
    });
  }
}
