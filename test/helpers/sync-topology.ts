/**
 * Several nodes of any brands with the fixture tables and sync objects, wired by
 * `links` (pairs, hubs) or explicit programs: the setups of the convergence suites.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig } from '../../src/config/config.ts';
import type { CaptureMode, ConflictPolicy } from '../../src/config/config.ts';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { type NodeHandle, NodeSet } from '../../src/runtime/nodes.ts';
import { compareTables, type CompareResult } from '../../src/verify/compare-tables.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';
import { FIXTURES } from './fixtures.ts';
import { setUpFixtureNode } from './sync-node.ts';

const TABLES = ['sales_order', 'order_line'];

export interface TopologySpec {
  /** Node name → brand. */
  nodes: Record<string, DialectName>;
  links?: unknown[];
  programs?: unknown[];
  conflict?: ConflictPolicy;
  batchSize?: number;
  /** Nodes that only send (`nodes.<n>.sendOnly`). */
  sendOnly?: string[];
  /** Nodes that only receive (`nodes.<n>.receiveOnly`). */
  receiveOnly?: string[];
  /** Nodes whose transport applies the changes itself (`nodes.<n>.directApply`). */
  directApply?: string[];
  /** Node name → capture mode of every fixture table on that node (`nodes.<n>.capture`); trigger when absent. */
  capture?: Record<string, CaptureMode>;
}

export interface Topology {
  config: Config;
  nodes: NodeSet;
  handles: Record<string, NodeHandle>;
  tables: Record<string, Record<string, TableSchema>>;
  /** Every node's `table` compared with the first node's. */
  compare(table: string): Promise<Array<{ node: string; result: CompareResult }>>;
  count(client: DbClient, sql: string, params?: unknown[]): Promise<number>;
  close(): Promise<void>;
}

export async function createTopology(spec: TopologySpec): Promise<Topology> {
  const names = Object.keys(spec.nodes);
  const dbs: TestDatabase[] = [];
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-topo-'));
  try {
    for (const name of names) dbs.push(await createTestDatabase(spec.nodes[name], `dsync_${name}`));
    const batch = spec.batchSize ?? 50;
    const config = parseConfig(
      {
        nodes: Object.fromEntries(
          names.map((n, i) => [
            n,
            {
              dialect: spec.nodes[n],
              url: dbs[i].url,
              serverId: `server-${n}`,
              ...(spec.sendOnly?.includes(n) ? { sendOnly: true } : {}),
              ...(spec.receiveOnly?.includes(n) ? { receiveOnly: true } : {}),
              ...(spec.directApply?.includes(n) ? { directApply: true } : {}),
              ...(spec.capture?.[n] ? { capture: Object.fromEntries(TABLES.map((t) => [t, spec.capture![n]])) } : {}),
            },
          ]),
        ),
        tables: TABLES.map((name) => ({ name, conflict: spec.conflict ?? 'latest-wins' })),
        programs: (spec.programs ?? []).map((p) => ({ batchSize: batch, ...(p as object) })),
        links: (spec.links ?? []).map((l) => ({ batchSize: batch, ...(l as object) })),
        generatedDir,
      },
      FIXTURES,
      null,
    );
    const nodes = new NodeSet(config);
    const handles: Record<string, NodeHandle> = {};
    const tables: Record<string, Record<string, TableSchema>> = {};
    for (const name of names) {
      const handle = await nodes.get(name);
      const { schemas } = await setUpFixtureNode(config, handle.node, handle.dialect, handle.client, generatedDir);
      handles[name] = handle;
      tables[name] = Object.fromEntries(schemas.map((s) => [s.name, s]));
    }
    return {
      config,
      nodes,
      handles,
      tables,
      async compare(table) {
        const [first, ...rest] = names;
        const out = [];
        for (const name of rest) {
          const result = await compareTables(
            { client: handles[first].client, table: tables[first][table] },
            { client: handles[name].client, table: tables[name][table] },
          );
          out.push({ node: name, result });
        }
        return out;
      },
      async count(client, sql, params = []) {
        const { rows } = await client.query<Row>(sql, params);
        return Number(Object.values(rows[0])[0]);
      },
      async close() {
        await nodes.closeAll();
        for (const db of dbs) await db.drop();
        rmSync(generatedDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    for (const db of dbs) await db.drop().catch(() => undefined);
    rmSync(generatedDir, { recursive: true, force: true });
    throw error;
  }
}

/** One random change on `node`: a row's insert, update, key change or delete, or a set-wise UPDATE or DELETE of one order. */
export async function randomOrderLineChange(topology: Topology, node: string, rnd: () => number, step: number): Promise<void> {
  const { client } = topology.handles[node];
  const table = topology.tables[node].order_line;
  const order = `o${Math.floor(rnd() * 4)}`;
  const key = { order_id: order, line_no: Math.floor(rnd() * 5) };
  const p = client.dialect.sql.param;
  const roll = rnd();
  try {
    if (roll < 0.35) await insertRow(client, table, { ...key, product: `${node}-p${step}`, amount: (rnd() * 100).toFixed(2) });
    else if (roll < 0.6)
      await updateRow(
        client,
        table,
        key,
        rnd() < 0.5 ? { product: `${node}-u${step}` } : { amount: rnd() < 0.2 ? null : (rnd() * 100).toFixed(2) },
      );
    else if (roll < 0.7) await updateRow(client, table, key, { line_no: 5 + Math.floor(rnd() * 3) });
    else if (roll < 0.8)
      await client.query(`UPDATE order_line SET product = ${p(1)} WHERE order_id = ${p(2)}`, [`${node}-set${step}`, order]);
    else if (roll < 0.85) await client.query(`DELETE FROM order_line WHERE order_id = ${p(1)}`, [order]);
    else await deleteRow(client, table, key);
  } catch {
    // A duplicate key, or a key change onto a taken key: the application would get the same error.
  }
}
