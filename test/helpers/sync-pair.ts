/**
 * Two nodes with the fixture tables and sync objects, and the four programs of a
 * two-way setup: 1000 a→b, 1001 import b, 1002 b→a, 1003 import a.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig } from '../../src/config/config.ts';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { type NodeHandle, NodeSet } from '../../src/runtime/nodes.ts';
import { runProgramOnce, runProgramSettled, syncAll } from '../../src/runtime/sync.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { applyFixtureSchema, FIXTURES } from './fixtures.ts';

export interface SyncPair {
  config: Config;
  nodes: NodeSet;
  a: NodeHandle;
  b: NodeHandle;
  tables: { a: Record<string, TableSchema>; b: Record<string, TableSchema> };
  /** transport a→b then import b, each waiting briefly for rows held back by an open transaction (like the CLI). */
  forward(): Promise<void>;
  /** One bare pass of each, which never waits: for tests that hold transactions open on purpose. */
  forwardOnce(): Promise<void>;
  /** transport b→a then import a. */
  backward(): Promise<void>;
  syncAll(): ReturnType<typeof syncAll>;
  count(client: DbClient, sql: string): Promise<number>;
  close(): Promise<void>;
}

/** `via` sends both transports through NATS JetStream; `nats` is the config's nats section. */
export interface SyncPairOptions {
  via?: string;
  nats?: Record<string, unknown>;
  /** Tables node a captures in mode api (the application writes their outbox rows; no triggers there). */
  apiTables?: string[];
  /** Tables node a captures in mode log (a PostgreSQL node with wal_level=logical: see private-postgres.ts). */
  logTables?: string[];
  /** Databases to use instead of fresh ones on the shared servers (their drop() runs at close). */
  databases?: [TestDatabase, TestDatabase];
  /** Tables node a captures in mode query (capture passes read them; no triggers there). */
  queryTables?: string[];
  /** Tables node a captures in mode keys (its triggers note the keys; capture passes read them). */
  keysTables?: string[];
  /** Extra keys of table entries (e.g. `deleteScanEvery`), by table name. */
  tableSettings?: Record<string, Record<string, unknown>>;
  /** The programs' batch size (50). */
  batchSize?: number;
  /**
   * The transport into node b applies the changes itself (`directApply`): `replica`, b is a receive-only
   * node too (and sends nothing back); `versioned`, b keeps versions and syncs both ways as usual.
   */
  directApply?: 'replica' | 'versioned';
}

export async function createSyncPair(
  from: DialectName,
  to: DialectName,
  conflict = 'latest-wins',
  options: SyncPairOptions = {},
): Promise<SyncPair> {
  const via = options.via ? { via: options.via } : {};
  const batchSize = options.batchSize ?? 50;
  const dbs: TestDatabase[] = options.databases ?? [await createTestDatabase(from, 'dsync_a'), await createTestDatabase(to, 'dsync_b')];
  const modes = {
    ...Object.fromEntries((options.apiTables ?? []).map((t) => [t, 'api'])),
    ...Object.fromEntries((options.logTables ?? []).map((t) => [t, 'log'])),
    ...Object.fromEntries((options.queryTables ?? []).map((t) => [t, 'query'])),
    ...Object.fromEntries((options.keysTables ?? []).map((t) => [t, 'keys'])),
  };
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-pair-'));
  const config = parseConfig(
    {
      nodes: {
        a: {
          dialect: from,
          url: dbs[0].url,
          serverId: 'server-a',
          ...(Object.keys(modes).length > 0 ? { capture: modes } : {}),
        },
        b: {
          dialect: to,
          url: dbs[1].url,
          serverId: 'server-b',
          ...(options.directApply ? { directApply: true } : {}),
          ...(options.directApply === 'replica' ? { receiveOnly: true } : {}),
        },
      },
      tables: ['sales_order', 'order_line', 'type_zoo', 'Odd Names'].map((name) => ({ name, conflict, ...options.tableSettings?.[name] })),
      programs: [
        { id: 1000, type: 'transport', from: 'a', to: 'b', batchSize, ...via },
        { id: 1001, type: 'import', node: 'b', batchSize },
        // A receive-only b sends nothing back.
        ...(options.directApply === 'replica'
          ? []
          : [
              { id: 1002, type: 'transport', from: 'b', to: 'a', batchSize, ...via },
              { id: 1003, type: 'import', node: 'a', batchSize },
            ]),
      ],
      generatedDir,
      ...(options.nats ? { nats: options.nats } : {}),
    },
    FIXTURES,
    null,
  );
  const nodes = new NodeSet(config);
  const handles: NodeHandle[] = [];
  const tables: Record<string, TableSchema>[] = [];
  for (const name of ['a', 'b']) {
    const handle = await nodes.get(name);
    await applyFixtureSchema(handle.client);
    const schemas = await introspectTables(config, handle.dialect, handle.client);
    writeFiles(join(generatedDir, name), generateNode(config, handle.node, handle.dialect, schemas));
    await applyNode(config, handle.node, handle.dialect, handle.client);
    handles.push(handle);
    tables.push(Object.fromEntries(schemas.map((s) => [s.name, s])));
  }
  const program = (id: number) => config.programs.find((p) => p.id === id)!;
  const [a, b] = handles;
  return {
    config,
    nodes,
    a,
    b,
    tables: { a: tables[0], b: tables[1] },
    async forward() {
      await runProgramSettled(config, nodes, program(1000));
      await runProgramSettled(config, nodes, program(1001));
    },
    async forwardOnce() {
      await runProgramOnce(config, nodes, program(1000));
      await runProgramOnce(config, nodes, program(1001));
    },
    async backward() {
      await runProgramSettled(config, nodes, program(1002));
      await runProgramSettled(config, nodes, program(1003));
    },
    syncAll: () => syncAll(config, nodes),
    async count(client, sql) {
      const { rows } = await client.query<Row>(sql);
      return Number(Object.values(rows[0])[0]);
    },
    async close() {
      await nodes.closeAll();
      for (const db of dbs) await db.drop();
      rmSync(generatedDir, { recursive: true, force: true });
    },
  };
}

/**
 * Sessions a test opens beside a node's own connection (concurrent writers, fences):
 * `session` connects one with `connect`, `closeAll` closes every one still open (afterAll).
 */
export function extraSessions(connect: () => Promise<DbClient>) {
  const open: DbClient[] = [];
  return {
    open,
    session: async () => {
      const c = await connect();
      open.push(c);
      return c;
    },
    closeAll: async () => {
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
    },
  };
}

/** Each of `tables` on one side of the pair, every row (selectAllRows), by table name. */
export async function pairRows(pair: SyncPair, side: 'a' | 'b', tables: readonly string[]): Promise<Record<string, Row[]>> {
  const client = side === 'a' ? pair.a.client : pair.b.client;
  const rows: Record<string, Row[]> = {};
  for (const name of tables) rows[name] = await selectAllRows(client, pair.tables[side][name]);
  return rows;
}

/**
 * `dsync run` (the Daemon) on the pair's config until `arrived()` holds, polled every 200 ms; false
 * when it did not within two minutes (no time is asserted: the deadline only ends a broken run).
 */
export async function daemonDelivers(pair: SyncPair, arrived: () => Promise<boolean>): Promise<boolean> {
  const stop = new AbortController();
  const running = new Daemon(pair.config, { signal: stop.signal }).run();
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      if (await arrived()) return true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    return false;
  } finally {
    stop.abort();
    await running;
  }
}
