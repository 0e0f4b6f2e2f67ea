/**
 * The MySQL/MariaDB id fence once per transaction (upgrade step 17): a transaction that
 * writes the inbox or outbox must be visible to the horizon (listed in INNODB_TRX) before
 * it holds an id, which it is once it has read ds_change_fence (mysql-dialect.ts,
 * readSafeHorizon). dsync's set-wise writes read it once per transaction and set
 * @dsync_fenced; the triggers then skip their read. What could break: the flag outliving
 * its transaction (a later transaction's hand-written row would take an id unfenced), a
 * rolled-back savepoint keeping it, or a node upgraded from step 16 keeping the old
 * triggers. The read is seen from another session as the fence row's shared lock, which a
 * `FOR UPDATE NOWAIT` there cannot take. (The horizon itself under concurrent sessions:
 * mysql-horizon.test.ts.)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { generateNode, introspectTables, readGeneratedFile, writeFiles } from '../../src/generate/generate.ts';
import { rendererFor } from '../../src/generate/render.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { writeRows } from '../../src/runtime/import/row-writer.ts';
import { NodeSet, requireSyncObjects } from '../../src/runtime/nodes.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';
import { extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const mysql = live.includes('mysql');

const INBOX = ['object_table', 'object_operation', 'updated_by_server_id', 'origin_change_id'];
const OUTBOX = ['object_table', 'object_operation', 'updated_by_server_id', 'origin_change_id'];
let nextChange = 1;
const rowsOf = (n: number) => Array.from({ length: n }, () => ['sales_order', 'I', 'fence-test', nextChange++]);

/** Whether some other transaction holds ds_change_fence's row (read by a fence): `probe` cannot lock it. */
async function fenceHeld(probe: DbClient): Promise<boolean> {
  return probe.transaction(async (tx) => {
    const outcome = await tx.query('SELECT id FROM ds_change_fence WHERE id = 1 FOR UPDATE NOWAIT').catch((e: unknown) => e);
    return outcome instanceof Error;
  });
}

const fencedFlag = async (client: DbClient) => {
  const { f } = (await client.query<Row>('SELECT @dsync_fenced AS f')).rows[0];
  return f === null ? null : Number(f);
};

describe.skipIf(!mysql)('mysql: the id fence once per transaction', () => {
  let node: SyncNode;
  const sessions = extraSessions(() => node.dialect.connect(node.db.url, 'mysql'));

  beforeAll(async () => {
    node = await createSyncNode('mysql');
  });
  afterAll(async () => {
    await sessions.closeAll();
    await node?.close();
  });

  it.each([
    ['inbox by LOAD DATA', 'ds_change_inbox', INBOX, 100],
    ['inbox by INSERT', 'ds_change_inbox', INBOX, 3],
    ['outbox', 'ds_change_outbox', OUTBOX, 100],
  ])('a set-wise write into the %s holds the fence, and its flag ends with the transaction', async (_, table, columns, n) => {
    const probe = await sessions.session();
    const writer = await sessions.session();
    expect(await fenceHeld(probe)).toBe(false);
    await writer.transaction(async (tx) => {
      await writeRows(tx, table, columns, rowsOf(n), true);
      expect(await fencedFlag(tx)).toBe(1);
      expect(await fenceHeld(probe)).toBe(true);
      await writeRows(tx, table, columns, rowsOf(n), true);
    });
    expect(await fencedFlag(writer)).toBeNull();
    expect(await fenceHeld(probe)).toBe(false);
    // Rolled back: the same.
    await writer
      .transaction(async (tx) => {
        await writeRows(tx, table, columns, rowsOf(n), true);
        throw new Error('roll back');
      })
      .catch(() => undefined);
    expect(await fencedFlag(writer)).toBeNull();
  });

  it("a hand-written row in the writer's next transaction still reads the fence itself", async () => {
    const probe = await sessions.session();
    const writer = await sessions.session();
    await writer.transaction((tx) => writeRows(tx, 'ds_change_inbox', INBOX, rowsOf(100), true));
    for (const table of ['ds_change_inbox', 'ds_change_outbox']) {
      await writer.exec('START TRANSACTION');
      try {
        await writer.query(
          `INSERT INTO ${table} (object_table, object_operation, updated_by_server_id, origin_change_id) VALUES ('sales_order', 'I', 'by-hand', ?)`,
          [nextChange++],
        );
        expect(await fenceHeld(probe)).toBe(true);
      } finally {
        await writer.exec('ROLLBACK');
      }
    }
  });

  it("capture's outbox rows skip the read (their transaction wrote its version entry first) and leave nothing for a later transaction", async () => {
    const probe = await sessions.session();
    const app = await sessions.session();
    const table = node.tables.sales_order;
    const before = Number((await app.query<Row>('SELECT COUNT(*) AS n FROM ds_change_outbox')).rows[0].n);
    await app.transaction(async (tx) => {
      await insertRow(tx, table, { order_id: 'fence1', description: 'captured', quantity: 1 });
      await updateRow(tx, table, { order_id: 'fence1' }, { description: 'changed' });
      // The capture triggers' outbox rows took the version they left: nothing remains set.
      expect((await tx.query<Row>('SELECT @dsync_version AS v')).rows[0].v).toBeNull();
    });
    await app.transaction((tx) => deleteRow(tx, table, { order_id: 'fence1' }));
    expect((await app.query<Row>('SELECT @dsync_version AS v')).rows[0].v).toBeNull();
    const { rows } = await app.query<Row>('SELECT object_operation AS op FROM ds_change_outbox ORDER BY id');
    expect(rows.slice(before).map((r) => r.op)).toEqual(['I', 'U', 'D']);
    // A hand-written row in the app session's next transaction, with or without a version, reads the fence.
    for (const version of [null, 12345]) {
      await app.exec('START TRANSACTION');
      try {
        await app.query("INSERT INTO ds_change_outbox (object_table, object_operation, change_version) VALUES ('sales_order', 'I', ?)", [
          version,
        ]);
        expect(await fenceHeld(probe)).toBe(true);
      } finally {
        await app.exec('ROLLBACK');
      }
    }
  });

  it('a rolled-back savepoint takes the flag with it when the fence was read inside it', async () => {
    const writer = await sessions.session();
    await writer.transaction(async (tx) => {
      await tx
        .transaction(async (sp) => {
          await writeRows(sp, 'ds_change_inbox', INBOX, rowsOf(3), true);
          expect(await fencedFlag(sp)).toBe(1);
          throw new Error('roll back to the savepoint');
        })
        .catch(() => undefined);
      expect(await fencedFlag(tx)).toBeNull();
      // The next write reads the fence again and sets the flag again.
      await writeRows(tx, 'ds_change_inbox', INBOX, rowsOf(3), true);
      expect(await fencedFlag(tx)).toBe(1);
    });
  });
});

describe.skipIf(!mysql)('mysql: upgrade of a step-16 node to the fence once per transaction', () => {
  let node: SyncNode;
  beforeAll(async () => {
    node = await createSyncNode('mysql');
  });
  afterAll(async () => {
    await node?.close();
  });

  it('refuses the node with the fix, runs only steps 17 and 20, keeps the rows and ids, and replaces both triggers', async () => {
    const { client, config } = node;
    const nodeConfig = config.nodes.mysql;
    const dir = join(node.generatedDir, nodeConfig.name);
    // A step-16 install: this version's files without step 17, run as apply runs them, ledger included.
    await client.exec('DROP TRIGGER ds_change_outbox_fence');
    await client.exec('DROP TRIGGER ds_change_inbox_fence');
    const tables = (
      await client.query<Row>(
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'ds\\_%'",
      )
    ).rows;
    for (const t of tables) await client.exec(`DROP TABLE ${node.dialect.sql.ident(String(t.t))}`);
    for (const statement of rendererFor(node.dialect).render('ledger', {})) await client.exec(statement);
    const files = readdirSync(dir).sort();
    // The steps after 16 that touch the fence triggers: 17 and 20 (a send-only node's capture rows).
    const later = ['0017_upgrade_fence_per_transaction.sql', '0020_upgrade_fence_send_only.sql'];
    expect(files.filter((f) => /^00(1[7-9]|[2-9]\d)_/.test(f))).toEqual(later);
    for (const name of files.filter((f) => !later.includes(f))) {
      const file = readGeneratedFile(name, readFileSync(join(dir, name), 'utf8'));
      for (const statement of node.dialect.splitScript(file.content)) await client.exec(statement);
      await client.query('INSERT INTO ds_schema_migrations (file, checksum, applied_at) VALUES (?, ?, UTC_TIMESTAMP(6))', [
        name,
        file.actualHash,
      ]);
    }
    const oldBody = await triggerBodies(client);
    expect(oldBody.every((b) => !b.includes('@dsync_fenced'))).toBe(true);

    await client.query(
      "INSERT INTO ds_change_outbox (object_table, object_operation, note1) VALUES ('sales_order', 'I', 'before'), ('sales_order', 'U', 'before')",
    );
    await client.transaction((tx) => writeRows(tx, 'ds_change_inbox', INBOX, rowsOf(70), true));
    const before = await snapshot(client);

    const nodes = new NodeSet(config);
    try {
      const handle = await nodes.get('mysql');
      const refused = await requireSyncObjects(handle, ['ds_change_inbox']).catch((e: unknown) => e);
      expect((refused as { code?: string }).code).toBe('schema_outdated');
      expect(String((refused as Error).message)).toMatch(/0017_upgrade_fence_per_transaction/);

      const schemas = await introspectTables(config, node.dialect, client);
      writeFiles(dir, generateNode(config, nodeConfig, node.dialect, schemas));
      const result = await applyNode(config, nodeConfig, node.dialect, client);
      const ran = result.steps.filter((s) => s.action !== 'skip').map((s) => s.file);
      expect(ran.filter((f) => !/^01\d\d_capture_|^0003_ds_program_parameter|^0006_view/.test(f))).toEqual(later);
      await nodes.closeAll();
      await expect(requireSyncObjects(await nodes.get('mysql'), ['ds_change_inbox'])).resolves.toBeUndefined();
    } finally {
      await nodes.closeAll();
    }
    expect(await snapshot(client)).toEqual(before);
    const bodies = await triggerBodies(client);
    expect(bodies).toHaveLength(2);
    expect(bodies.every((b) => b.includes('@dsync_fenced') && b.includes('ds_change_fence'))).toBe(true);
    // The outbox's (second by name) is step 20's; the inbox's, step 17's.
    expect(bodies[1]).toContain('SET NEW.change_version = NULL');
    expect(bodies[0]).not.toContain('change_version');
    // The ids go on above the old ones (LOAD DATA reserved a block of them: not +1).
    await client.transaction((tx) => writeRows(tx, 'ds_change_inbox', INBOX, rowsOf(3), true));
    const { rows } = await client.query<Row>('SELECT id FROM ds_change_inbox ORDER BY id');
    expect(rows.slice(0, before.inbox.length)).toEqual(before.inbox.map((r) => ({ id: r.id })));
    expect(Number(rows[rows.length - 3].id)).toBeGreaterThan(Number(before.inbox[before.inbox.length - 1].id));
  });
});

async function triggerBodies(client: DbClient): Promise<string[]> {
  const { rows } = await client.query<Row>(
    "SELECT ACTION_STATEMENT AS body FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME IN ('ds_change_outbox_fence', 'ds_change_inbox_fence') ORDER BY TRIGGER_NAME",
  );
  return rows.map((r) => String(r.body));
}

async function snapshot(client: DbClient) {
  const outbox = (await client.query<Row>('SELECT id, object_operation, note1 FROM ds_change_outbox ORDER BY id')).rows;
  const inbox = (await client.query<Row>('SELECT id, origin_change_id FROM ds_change_inbox ORDER BY id')).rows;
  return { outbox, inbox };
}
