/**
 * The nodes of one benchmark case: a fresh database each, the seed's sales_order table,
 * and, on nodes that synchronize, the sync objects generated and applied the way a user
 * would (`dsync generate` + `dsync apply`, through the library functions).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Config, parseConfig } from '../src/config/config.ts';
import type { DbClient, DialectName } from '../src/core/dialect.ts';
import type { TableSchema } from '../src/core/schema.ts';
import { generateNode, introspectTables, writeFiles } from '../src/generate/generate.ts';
import { applyNode } from '../src/migrate/apply.ts';
import { type NodeHandle, NodeSet } from '../src/runtime/nodes.ts';
import { type BenchDatabase, createBenchDatabase } from './databases.ts';
import { ROOT } from './paths.ts';

export const TABLE = 'sales_order';

export interface BenchNodeSpec {
  name: string;
  dialect: DialectName;
  /** Generate and apply the sync objects (capture triggers, outbox, inbox, program rows). */
  sync: boolean;
  /** A node whose setup fails is left out with the reason (setup.unavailable) instead of failing the case. */
  optional?: boolean;
  /** sales_order's capture mode on this node (default trigger). */
  capture?: 'query' | 'keys';
  /** The node only sends (`nodes.<n>.sendOnly`): its capture keeps no version store. */
  sendOnly?: boolean;
  /** The node only receives (`nodes.<n>.receiveOnly`): nothing is captured there, its import keeps no version store. */
  receiveOnly?: boolean;
  /** Its transport applies the changes itself (`nodes.<n>.directApply`). */
  directApply?: boolean;
}

export interface BenchProgram {
  id: number;
  type: 'transport' | 'import';
  from?: string;
  to?: string;
  node?: string;
  batchSize?: number;
  intervalSeconds?: number;
}

export interface BenchSetup {
  config: Config;
  nodes: NodeSet;
  handle(name: string): Promise<NodeHandle>;
  /** sales_order as introspected on the node. */
  table(name: string): TableSchema;
  /** Optional nodes that could not be set up, with the reason. */
  unavailable: Map<string, string>;
  close(): Promise<void>;
}

/** The seed's sales_order DDL for a dialect (fixtures/seed/sales_order.<dialect>.sql). */
export function salesOrderDdl(dialect: DialectName): string {
  return readFileSync(join(ROOT, 'fixtures', 'seed', `sales_order.${dialect}.sql`), 'utf8');
}

async function createTable(client: DbClient): Promise<void> {
  for (const statement of client.dialect.splitScript(salesOrderDdl(client.dialect.name))) await client.exec(statement);
}

/** Node names double as database-name prefixes, so keep them short: a, b, src, tgt. */
export async function createBenchSetup(specs: BenchNodeSpec[], programs: BenchProgram[] = []): Promise<BenchSetup> {
  const dbs: BenchDatabase[] = [];
  const generatedDir = mkdtempSync(join(tmpdir(), 'dsync-bench-gen-'));
  let nodes: NodeSet | undefined;
  const close = async () => {
    await nodes?.closeAll();
    for (const db of dbs) await db.drop().catch((error) => console.error(`bench: could not drop ${db.url}: ${(error as Error).message}`));
    rmSync(generatedDir, { recursive: true, force: true });
  };
  try {
    for (const spec of specs) dbs.push(await createBenchDatabase(spec.dialect, spec.name));
    const config = parseConfig(
      {
        nodes: Object.fromEntries(
          specs.map((s, i) => [
            s.name,
            {
              dialect: s.dialect,
              url: dbs[i].url,
              serverId: `bench-${s.name}`,
              ...(s.capture ? { capture: { [TABLE]: s.capture } } : {}),
              ...(s.sendOnly ? { sendOnly: true } : {}),
              ...(s.receiveOnly ? { receiveOnly: true } : {}),
              ...(s.directApply ? { directApply: true } : {}),
            },
          ]),
        ),
        tables: [{ name: TABLE, conflict: 'latest-wins' }],
        programs,
        generatedDir,
      },
      generatedDir,
      null,
    );
    nodes = new NodeSet(config);
    const tables = new Map<string, TableSchema>();
    const unavailable = new Map<string, string>();
    for (const spec of specs) {
      try {
        const handle = await nodes.get(spec.name);
        await createTable(handle.client);
        const schemas = await introspectTables(config, handle.dialect, handle.client);
        tables.set(spec.name, schemas[0]);
        if (spec.sync) {
          writeFiles(join(generatedDir, spec.name), generateNode(config, handle.node, handle.dialect, schemas));
          await applyNode(config, handle.node, handle.dialect, handle.client);
        }
      } catch (error) {
        if (!spec.optional) throw error;
        unavailable.set(spec.name, `setting up ${spec.dialect} failed: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    const open = nodes;
    return {
      config,
      nodes: open,
      handle: (name) => open.get(name),
      table: (name) => tables.get(name)!,
      unavailable,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
