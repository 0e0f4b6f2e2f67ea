/**
 * Capture mode api on a node replaces the table's capture file by one that drops its
 * triggers: switching a table from trigger to api is regenerate + apply, and a later
 * write adds no outbox row; switching back restores the triggers. On every live brand;
 * SQL Server's file is checked offline.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../src/config/config.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { writeGenerated } from '../../src/generate/generate.ts';
import { applyToNode } from '../../src/migrate/apply.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema, FIXTURES } from '../helpers/fixtures.ts';
import { generateMssqlOffline, mssqlFixtureConfig } from '../helpers/mssql-offline.ts';

const live = await liveDialects();
const brands = (['postgres', 'sqlite', 'mysql'] as DialectName[]).filter((d) => live.includes(d));

describe.each(brands)('switching sales_order between trigger and api capture, %s', (brand) => {
  let db: TestDatabase;
  let generatedDir: string;
  const configFor = (capture: 'trigger' | 'api'): Config =>
    parseConfig(
      {
        nodes: { a: { dialect: brand, url: db.url, serverId: 'server-a' } },
        tables: [{ name: 'sales_order', capture }, 'order_line'],
        generatedDir,
      },
      FIXTURES,
      null,
    );
  /** Regenerates and applies with `capture`, then inserts `orderId` and returns the node's outbox row count. */
  const switchAndWrite = async (capture: 'trigger' | 'api', orderId: string) => {
    const config = configFor(capture);
    const nodes = new NodeSet(config);
    try {
      const generated = await writeGenerated(config, nodes, 'a');
      const file = generated.files.find((f) => f.object === 'capture_sales_order')!;
      expect(file.fileName).toBe('0101_capture_sales_order.sql');
      expect(/CREATE\s+(OR\s+REPLACE\s+)?TRIGGER/i.test(file.content)).toBe(capture === 'trigger');
      await applyToNode(config, nodes, 'a');
      const { client } = await nodes.get('a');
      if (brand === 'postgres') {
        // PostgreSQL: the trigger function goes with the triggers.
        const { rows: fn } = await client.query<Row>("SELECT to_regproc('ds_capture_sales_order') IS NOT NULL AS present");
        expect(fn[0].present).toBe(capture === 'trigger');
      }
      await client.exec(`INSERT INTO sales_order (order_id, description) VALUES ('${orderId}', 'x')`);
      await client.exec(`UPDATE sales_order SET description = 'y' WHERE order_id = '${orderId}'`);
      // order_line stays in trigger mode whatever sales_order does.
      await client.exec(`INSERT INTO order_line (order_id, line_no, product) VALUES ('${orderId}', 1, 'p')`);
      const { rows } = await client.query<Row>('SELECT object_table, object_id FROM ds_change_outbox ORDER BY id');
      return rows.map((r) => {
        const key = JSON.parse(String(r.object_id)) as string | { order_id: string };
        return `${r.object_table} ${typeof key === 'string' ? key : key.order_id}`;
      });
    } finally {
      await nodes.closeAll();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase(brand, 'dsync_mode');
    generatedDir = mkdtempSync(join(tmpdir(), 'dsync-mode-'));
    const nodes = new NodeSet(configFor('trigger'));
    try {
      await applyFixtureSchema((await nodes.get('a')).client);
    } finally {
      await nodes.closeAll();
    }
  });

  afterAll(async () => {
    await db?.drop();
    if (generatedDir) rmSync(generatedDir, { recursive: true, force: true });
  });

  it('trigger → api removes the triggers, api → trigger restores them', async () => {
    const t1 = ['sales_order t1', 'sales_order t1', 'order_line t1'];
    expect(await switchAndWrite('trigger', 't1')).toEqual(t1);
    const a1 = [...t1, 'order_line a1'];
    expect(await switchAndWrite('api', 'a1')).toEqual(a1);
    // Applying the same api file again is a no-op, and still captures nothing.
    expect(await switchAndWrite('api', 'a2')).toEqual([...a1, 'order_line a2']);
    expect(await switchAndWrite('trigger', 't2')).toEqual([...a1, 'order_line a2', 'sales_order t2', 'sales_order t2', 'order_line t2']);
  });
});

describe('SQL Server, offline', () => {
  it('an api-mode table gets a capture file that drops its three triggers and creates none', () => {
    const raw = mssqlFixtureConfig();
    const config: Config = { ...raw, nodes: { ...raw.nodes, mssql: { ...raw.nodes.mssql, capture: { sales_order: 'api' } } } };
    const file = generateMssqlOffline(config).find((f) => f.object === 'capture_sales_order')!;
    expect(file.content).not.toMatch(/CREATE\s+(OR\s+ALTER\s+)?TRIGGER/i);
    for (const suffix of ['ins', 'upd', 'del']) expect(file.content).toContain(`DROP TRIGGER IF EXISTS dbo.ds_sales_order_${suffix};`);
    // The other tables keep their triggers, byte for byte.
    const committed = readFileSync(join(raw.generatedDir, 'mssql', '0102_capture_order_line.sql'), 'utf8');
    expect(generateMssqlOffline(config).find((f) => f.fileName === '0102_capture_order_line.sql')!.content).toBe(committed);
  });
});
