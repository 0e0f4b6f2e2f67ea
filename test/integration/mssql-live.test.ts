/**
 * The SQL Server dialect against a real SQL Server 2019 or later. No SQL Server runs where
 * this project is built, so this suite runs only when MSSQL_URL is set (see
 * docs/dialects/mssql.md); without it, it prints that it was skipped and how to run it.
 * It creates its own database on that server and drops it at the end.
 *
 * What it proves that the offline tests cannot: the hand-written fixtures/schema/mssql.json
 * is what the catalog says, so generated/mssql/ is current; the generated T-SQL applies
 * (twice: the second run is a no-op); the capture triggers write the same outbox rows as on
 * PostgreSQL; the origin flag; the inbox dedupe; the safe horizon with two sessions; value
 * round trips through the driver; and a two-way sync with PostgreSQL.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../src/config/config.ts';
import { parseDateTime, sameValue } from '../../src/core/canonical.ts';
import { CHANGE_ROW_COLUMNS, type ValueMap } from '../../src/core/change.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { ChangeError } from '../../src/core/errors.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { mssqlDialect } from '../../src/dialects/mssql/mssql-dialect.ts';
import { compareFiles, generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { deleteRow, insertRow, selectAllRows, updateRow } from '../../src/runtime/import/dml.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { type NodeHandle, NodeSet } from '../../src/runtime/nodes.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema, FIXTURES, fixtureConfig, ROOT } from '../helpers/fixtures.ts';
import { lastOutboxId, outboxRows } from '../helpers/sync-node.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';
import { setOriginFlag } from '../helpers/origin-flag.ts';

const MSSQL_URL = process.env.MSSQL_URL;
if (!MSSQL_URL) {
  console.warn(
    'skipping the SQL Server live suite (test/integration/mssql-live.test.ts): MSSQL_URL is not set. ' +
      'Run it against SQL Server 2019+ with MSSQL_URL=mssql://sa:PASSWORD@localhost:1433/master?encrypt=true&trustServerCertificate=true ' +
      'npx vitest run test/integration/mssql-live.test.ts (docs/dialects/mssql.md)',
  );
}

/** A fresh database on the MSSQL_URL server, dropped (with its sessions) afterwards. */
const createMssqlDatabase = (prefix: string): Promise<TestDatabase> => createTestDatabase('mssql', prefix);

const ORDER: ValueMap = { ...SEED_ORDER };

const HOSTILE = `it's ~ "q" \`b\` [x] ; -- \\ \\' / ünïcødé 😀 \t\n end`;

const ZOO: ValueMap = {
  id: 1,
  c_smallint: -32768,
  c_int: 2147483647,
  c_bigint: '9007199254740993',
  c_decimal: '12345678901234.123456',
  c_float: 0.1,
  c_real: 1.5,
  c_bool: true,
  c_char: 'ab',
  c_varchar: HOSTILE,
  c_text: 'x'.repeat(50_000) + '😀'.repeat(12_500),
  c_date: '1969-07-20',
  c_time: '10:30:00.123456',
  c_timestamp: '2025-06-25T10:30:00.500001',
  c_timestamptz: '2025-06-25T08:30:00.000000Z',
  c_bytea: Buffer.from([0, 255, 16, 39, 126, 92, 0, 1, 2, 3, 250]).toString('base64'),
  c_json: '{"a":[1,2],"b":"x/y"}',
  c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
};

function expectValues(table: TableSchema, actual: Record<string, unknown> | null, expected: ValueMap) {
  expect(actual).not.toBeNull();
  expect(Object.keys(actual!).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, value] of Object.entries(expected)) {
    const column = table.columns.find((c) => c.name === name)!;
    const exact = !['decimal', 'json', 'float'].includes(column.family);
    const ok = sameValue(column, actual![name], value) && (!exact || actual![name] === value);
    if (!ok)
      expect.fail(`${table.name}.${name}: got ${JSON.stringify(actual![name])?.slice(0, 80)}, want ${JSON.stringify(value)?.slice(0, 80)}`);
  }
}

describe.skipIf(!MSSQL_URL)('SQL Server live (MSSQL_URL)', () => {
  let db: TestDatabase;
  let config: Config;
  let client: DbClient;
  let generatedDir: string;
  const tables: Record<string, TableSchema> = {};
  const sessions: DbClient[] = [];
  const session = async () => {
    const c = await mssqlDialect.connect(config.nodes.mssql.url, 'mssql');
    sessions.push(c);
    return c;
  };

  beforeAll(async () => {
    db = await createMssqlDatabase('dsync_ms');
    generatedDir = mkdtempSync(join(tmpdir(), 'dsync-ms-'));
    config = fixtureConfig({ mssql: db.url }, generatedDir);
    client = await mssqlDialect.connect(config.nodes.mssql.url, 'mssql');
    await applyFixtureSchema(client);
    for (const schema of await introspectTables(config, mssqlDialect, client)) tables[schema.name] = schema;
  });

  afterAll(async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
    await client?.close().catch(() => undefined);
    await db?.drop();
    if (generatedDir) rmSync(generatedDir, { recursive: true, force: true });
  });

  describe('generation', () => {
    it('introspects the fixture tables exactly as fixtures/schema/mssql.json says', () => {
      const expected = JSON.parse(readFileSync(join(FIXTURES, 'schema', 'mssql.json'), 'utf8')) as TableSchema[];
      expect(Object.values(tables)).toEqual(expected);
    });

    it('generates what is committed in generated/mssql, byte for byte', () => {
      const files = generateNode(config, config.nodes.mssql, mssqlDialect, Object.values(tables));
      expect(compareFiles(join(ROOT, 'generated', 'mssql'), files)).toEqual([]);
    });

    it('applies the generated files, and a second apply is a no-op', async () => {
      writeFiles(join(generatedDir, 'mssql'), generateNode(config, config.nodes.mssql, mssqlDialect, Object.values(tables)));
      const first = await applyNode(config, config.nodes.mssql, mssqlDialect, client);
      expect(first.steps.every((s) => s.status === 'applied')).toBe(true);
      const second = await applyNode(config, config.nodes.mssql, mssqlDialect, client);
      expect(second.steps.every((s) => s.status === 'skipped')).toBe(true);
      for (const table of [
        'ds_change_outbox',
        'ds_change_inbox',
        'ds_program_parameter',
        'ds_change_error',
        'ds_change_conflict',
        'view_recordlevel_update_datetime',
      ]) {
        expect(await mssqlDialect.tableExists(client, table), table).toBe(true);
      }
    });
  });

  describe('capture', () => {
    const t = (name: string) => tables[name];

    it('records an insert with every column, canonical, with our server id and the login', async () => {
      const before = await lastOutboxId(client);
      await insertRow(client, t('sales_order'), ORDER);
      const rows = await outboxRows(client, before);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        op: 'I',
        table: 'sales_order',
        pk: 'order_id',
        key: 'ord2',
        keyOld: null,
        oldValues: null,
        server: 'fixture-ms',
        originChangeId: null,
      });
      expect(rows[0].user).toBeTruthy();
      expect(rows[0].attributes.sort()).toEqual(Object.keys(ORDER).sort());
      expectValues(t('sales_order'), rows[0].values, ORDER);
      const time = parseDateTime(rows[0].time)!;
      expect(Math.abs(Date.UTC(time.year, time.month - 1, time.day, time.hour, time.minute, time.second) - Date.now())).toBeLessThan(
        120_000,
      );
    });

    it('writes no row for an update that changes nothing', async () => {
      const before = await lastOutboxId(client);
      expect(await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { description: 'old order', quantity: 100 })).toBe(1);
      expect(await outboxRows(client, before)).toEqual([]);
    });

    it('records only the changed columns, case-only and trailing-space changes included', async () => {
      const before = await lastOutboxId(client);
      await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { description: 'OLD ORDER', quantity: 7, order_type: 'wholesale' });
      await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { description: 'OLD ORDER ' });
      const rows = await outboxRows(client, before);
      expect(rows).toHaveLength(2);
      expect(rows[0]).toMatchObject({
        op: 'U',
        key: 'ord2',
        keyOld: null,
        values: { description: 'OLD ORDER', quantity: 7 },
        oldValues: { description: 'old order', quantity: 100 },
      });
      expect(rows[0].attributes.sort()).toEqual(['description', 'quantity']);
      expect(rows[1]).toMatchObject({ values: { description: 'OLD ORDER ' }, oldValues: { description: 'OLD ORDER' } });
    });

    it('records NULL to a value and back', async () => {
      const before = await lastOutboxId(client);
      await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { customer_id: null });
      await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { customer_id: 'c9' });
      const rows = await outboxRows(client, before);
      expect(rows.map((r) => [r.values, r.oldValues])).toEqual([
        [{ customer_id: null }, { customer_id: 'c1' }],
        [{ customer_id: 'c9' }, { customer_id: null }],
      ]);
    });

    it("records one row's key change as an update with the old key", async () => {
      const before = await lastOutboxId(client);
      await updateRow(client, t('sales_order'), { order_id: 'ord2' }, { order_id: 'ord3' });
      const rows = await outboxRows(client, before);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        op: 'U',
        key: 'ord3',
        keyOld: 'ord2',
        values: { order_id: 'ord3' },
        oldValues: { order_id: 'ord2' },
      });
    });

    it('records a delete with the whole old row', async () => {
      const before = await lastOutboxId(client);
      await deleteRow(client, t('sales_order'), { order_id: 'ord3' });
      const rows = await outboxRows(client, before);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ op: 'D', key: 'ord3', values: null });
      expectValues(t('sales_order'), rows[0].oldValues, {
        ...ORDER,
        order_id: 'ord3',
        description: 'OLD ORDER ',
        quantity: 7,
        customer_id: 'c9',
      });
    });

    it('writes one row per row for a multi-row statement, and a delete plus an insert for keys it cannot pair', async () => {
      for (const id of ['m1', 'm2', 'm3']) await insertRow(client, t('sales_order'), { order_id: id, quantity: 1 });
      let before = await lastOutboxId(client);
      await client.query("UPDATE sales_order SET quantity = quantity + 1 WHERE order_id IN ('m1', 'm2', 'm3')");
      let rows = await outboxRows(client, before);
      expect(rows.map((r) => [r.op, r.key, r.values]).sort()).toEqual([
        ['U', 'm1', { quantity: 2 }],
        ['U', 'm2', { quantity: 2 }],
        ['U', 'm3', { quantity: 2 }],
      ]);
      before = await lastOutboxId(client);
      await client.query("UPDATE sales_order SET order_id = 'n' + SUBSTRING(order_id, 2, 10) WHERE order_id IN ('m1', 'm2')");
      rows = await outboxRows(client, before);
      expect(rows.map((r) => [r.op, r.key]).sort()).toEqual([
        ['D', 'm1'],
        ['D', 'm2'],
        ['I', 'n1'],
        ['I', 'n2'],
      ]);
      expect(rows.find((r) => r.key === 'n1')!.values).toMatchObject({ order_id: 'n1', quantity: 2 });
    });

    it('encodes every type family canonically, edge values included', async () => {
      const before = await lastOutboxId(client);
      await insertRow(client, t('type_zoo'), ZOO);
      const [row] = await outboxRows(client, before);
      expect(row.key).toBe(1);
      expectValues(t('type_zoo'), row.values, ZOO);
      expect(row.values!.c_bigint).toBe('9007199254740993');
      expect(row.values!.c_decimal).toBe('12345678901234.123456');
    });

    it('records type changes and NULLs of every family on update', async () => {
      const before = await lastOutboxId(client);
      const nulls = Object.fromEntries(
        Object.keys(ZOO)
          .filter((k) => k !== 'id')
          .map((k) => [k, null]),
      );
      await updateRow(client, t('type_zoo'), { id: 1 }, nulls);
      await updateRow(
        client,
        t('type_zoo'),
        { id: 1 },
        { c_bool: false, c_decimal: '-0.000001', c_bigint: '-9007199254740993', c_timestamp: '1900-01-01T00:00:00.000000' },
      );
      const rows = await outboxRows(client, before);
      expect(rows).toHaveLength(2);
      expect(rows[0].values).toEqual(nulls);
      expectValues(t('type_zoo'), rows[0].oldValues, Object.fromEntries(Object.entries(ZOO).filter(([k]) => k !== 'id')));
      expectValues(t('type_zoo'), rows[1].values, {
        c_bool: false,
        c_decimal: '-0.000001',
        c_bigint: '-9007199254740993',
        c_timestamp: '1900-01-01T00:00:00.000000',
      });
    });

    it('handles a composite key', async () => {
      const before = await lastOutboxId(client);
      await insertRow(client, t('order_line'), { order_id: 'o1', line_no: 1, product: 'p', amount: '10.50' });
      await updateRow(client, t('order_line'), { order_id: 'o1', line_no: 1 }, { line_no: 2 });
      const rows = await outboxRows(client, before);
      expect(rows[0].key).toEqual({ order_id: 'o1', line_no: 1 });
      expect(rows[0].values).toMatchObject({ amount: '10.50' });
      expect(rows[1]).toMatchObject({
        key: { order_id: 'o1', line_no: 2 },
        keyOld: { order_id: 'o1', line_no: 1 },
        values: { line_no: 2 },
      });
    });

    it('keeps names that need quoting exactly', async () => {
      const before = await lastOutboxId(client);
      const odd: ValueMap = {
        'Key Col': 5,
        select: HOSTILE,
        "it's": 'a',
        MixedCase: 'b',
        'back`tick': 'c',
        'tilde~col': '~~',
        '[bracket]': ']',
        'semi;colon': ';',
      };
      await insertRow(client, t('Odd Names'), odd);
      await updateRow(client, t('Odd Names'), { 'Key Col': 5 }, { "it's": "it's" });
      const rows = await outboxRows(client, before);
      expect(rows[0]).toMatchObject({ table: 'Odd Names', pk: 'Key Col', key: 5, values: odd });
      expect(rows[1]).toMatchObject({ values: { "it's": "it's" }, oldValues: { "it's": 'a' }, attributes: ["it's"] });
    });

    it('carries the origin of an applied change, only inside the transaction that set it', async () => {
      const before = await lastOutboxId(client);
      await client.transaction(async (tx) => {
        await setOriginFlag(tx, { serverId: 'elsewhere', changeId: 77, userId: 'u1', updatedAt: '2025-01-02 03:04:05.000006' });
        await insertRow(tx, t('sales_order'), { ...ORDER, order_id: 'from-elsewhere' });
      }); // the flag is not cleared on purpose: the next transaction must not see it
      await insertRow(client, t('sales_order'), { ...ORDER, order_id: 'local' });
      await client
        .transaction(async (tx) => {
          await setOriginFlag(tx, { serverId: 'rolled-back', changeId: 78, userId: null, updatedAt: null });
          throw new Error('abort');
        })
        .catch(() => undefined);
      await insertRow(client, t('sales_order'), { ...ORDER, order_id: 'local2' });
      const rows = await outboxRows(client, before);
      expect(rows[0]).toMatchObject({ key: 'from-elsewhere', server: 'elsewhere', originChangeId: 77, user: 'u1' });
      expect(parseDateTime(rows[0].time)).toMatchObject({ year: 2025, month: 1, day: 2, hour: 3, minute: 4, second: 5, micro: 6 });
      expect(rows[1]).toMatchObject({ key: 'local', server: 'fixture-ms', originChangeId: null });
      expect(rows[2]).toMatchObject({ key: 'local2', server: 'fixture-ms', originChangeId: null });
    });
  });

  describe('capture silence', () => {
    it('writes nothing while the import has silenced capture, and only in that transaction', async () => {
      const before = await lastOutboxId(client);
      await client.transaction(async (tx) => {
        await mssqlDialect.silenceCapture(tx, true);
        await insertRow(tx, tables.sales_order, { order_id: 'silent', quantity: 1 });
      });
      await insertRow(client, tables.sales_order, { order_id: 'heard', quantity: 1 });
      expect((await outboxRows(client, before)).map((r) => r.key)).toEqual(['heard']);
    });

    it('spells object_id as the triggers do, for every key the fixtures have', async () => {
      const before = await lastOutboxId(client);
      await insertRow(client, tables.order_line, { order_id: 'k/1', line_no: 7, product: 'p', amount: '1.5' });
      const { rows } = await client.query<Row>('SELECT object_id FROM ds_change_outbox WHERE id > @p1', [before]);
      expect(rows[0].object_id).toBe(mssqlDialect.keyJson(tables.order_line, { order_id: 'k/1', line_no: 7 }));
    });
  });

  describe('driver values', () => {
    it('reads every family back canonically', async () => {
      const zoo = { ...ZOO, id: 2, c_decimal: '12345678.123456' };
      await insertRow(client, tables.type_zoo, zoo);
      const row = (await selectAllRows(client, tables.type_zoo)).find((r) => r.id === 2)!;
      expectValues(tables.type_zoo, row, zoo);
    });

    it('refuses to read a decimal the driver may have cut, instead of changing it', async () => {
      await client.query('UPDATE type_zoo SET c_decimal = @p1 WHERE id = 2', ['12345678901234.123456']);
      await expect(selectAllRows(client, tables.type_zoo)).rejects.toBeInstanceOf(ChangeError);
      await client.query('UPDATE type_zoo SET c_decimal = NULL WHERE id = 2');
    });
  });

  describe('inbox', () => {
    const columns = [...CHANGE_ROW_COLUMNS, 'origin_change_id'] as const;
    const change = (server: string, id: number) =>
      columns.map((c) =>
        c === 'origin_change_id'
          ? id
          : c === 'updated_by_server_id'
            ? server
            : c === 'object_operation'
              ? 'I'
              : c === 'object_table'
                ? 'sales_order'
                : null,
      );

    it('skips resent changes, within one statement and across statements, and keeps the rest', async () => {
      const insert = (rows: unknown[][]) =>
        client.query(mssqlDialect.sql.insertIgnoringDuplicates('ds_change_inbox', columns, rows.length), rows.flat());
      await insert([change('s1', 1), change('s1', 2), change('s1', 1)]);
      await insert([change('s1', 2), change('s2', 1)]);
      const { rows } = await client.query<Row>('SELECT updated_by_server_id AS s, origin_change_id AS id FROM ds_change_inbox ORDER BY id');
      expect(rows.map((r) => `${r.s}:${r.id}`)).toEqual(['s1:1', 's1:2', 's2:1']);
    });
  });

  describe('safe horizon', () => {
    it('never passes an id whose transaction is still open, with two sessions', async () => {
      const [early, late, reader] = [await session(), await session(), await session()];
      await late.exec('BEGIN TRANSACTION');
      await insertRow(late, tables.sales_order, { order_id: 'h-late', quantity: 1 });
      const lateId = Number(
        (await late.query<Row>('SELECT MAX(id) AS id FROM ds_change_outbox WHERE object_id = N\'"h-late"\'')).rows[0].id,
      );
      await insertRow(early, tables.sales_order, { order_id: 'h-early', quantity: 1 });
      const earlyId = await lastOutboxId(early);
      expect(earlyId).toBeGreaterThan(lateId);
      const during = await mssqlDialect.readSafeHorizon(reader, 'ds_change_outbox');
      expect(during).toBeLessThan(lateId);
      await late.exec('COMMIT TRANSACTION');
      const after = await mssqlDialect.readSafeHorizon(reader, 'ds_change_outbox');
      expect(after).toBeGreaterThanOrEqual(earlyId);
    });

    it('moves past a rolled-back id', async () => {
      const [writer, reader] = [await session(), await session()];
      await writer.exec('BEGIN TRANSACTION');
      await insertRow(writer, tables.sales_order, { order_id: 'h-ghost', quantity: 1 });
      await writer.exec('ROLLBACK TRANSACTION');
      await insertRow(writer, tables.sales_order, { order_id: 'h-after', quantity: 1 });
      expect(await mssqlDialect.readSafeHorizon(reader, 'ds_change_outbox')).toBe(await lastOutboxId(writer));
    });
  });
});

describe.skipIf(!MSSQL_URL)('SQL Server ↔ PostgreSQL sync (MSSQL_URL)', () => {
  let dbs: TestDatabase[] = [];
  let nodes: NodeSet;
  let generatedDir: string;
  let config: Config;
  const handles: Record<string, NodeHandle> = {};
  const tables: Record<string, Record<string, TableSchema>> = {};
  const program = (id: number) => config.programs.find((p) => p.id === id)!;

  beforeAll(async () => {
    dbs = [await createMssqlDatabase('dsync_ms_pair'), await createTestDatabase('postgres', 'dsync_pg_pair')];
    generatedDir = mkdtempSync(join(tmpdir(), 'dsync-ms-pair-'));
    config = parseConfig(
      {
        nodes: {
          ms: { dialect: 'mssql', url: dbs[0].url, serverId: 'server-ms' },
          pg: { dialect: 'postgres', url: dbs[1].url, serverId: 'server-pg' },
        },
        tables: ['sales_order', 'order_line', 'type_zoo', 'Odd Names'],
        programs: [
          { id: 1000, type: 'transport', from: 'ms', to: 'pg' },
          { id: 1001, type: 'import', node: 'pg' },
          { id: 1002, type: 'transport', from: 'pg', to: 'ms' },
          { id: 1003, type: 'import', node: 'ms' },
        ],
        generatedDir,
      },
      FIXTURES,
      null,
    );
    nodes = new NodeSet(config);
    for (const name of ['ms', 'pg']) {
      const handle = await nodes.get(name);
      await applyFixtureSchema(handle.client);
      const schemas = await introspectTables(config, handle.dialect, handle.client);
      writeFiles(join(generatedDir, name), generateNode(config, handle.node, handle.dialect, schemas));
      await applyNode(config, handle.node, handle.dialect, handle.client);
      handles[name] = handle;
      tables[name] = Object.fromEntries(schemas.map((s) => [s.name, s]));
    }
  });

  afterAll(async () => {
    await nodes?.closeAll();
    for (const db of dbs) await db.drop();
    if (generatedDir) rmSync(generatedDir, { recursive: true, force: true });
  });

  const forward = async () => {
    await transportOnce(program(1000), handles.ms, handles.pg);
    await importOnce(config, program(1001), handles.pg);
  };
  const backward = async () => {
    await transportOnce(program(1002), handles.pg, handles.ms);
    await importOnce(config, program(1003), handles.ms);
  };
  const rows = async (node: 'ms' | 'pg', table: string) => selectAllRows(handles[node].client, tables[node][table]);

  it('carries inserts, column updates and deletes from SQL Server to PostgreSQL and back, without echo', async () => {
    await insertRow(handles.ms.client, tables.ms.sales_order, ORDER);
    await insertRow(handles.ms.client, tables.ms.order_line, { order_id: 'ord2', line_no: 1, product: 'p', amount: '10.50' });
    await forward();
    expect(await rows('pg', 'sales_order')).toEqual(await rows('ms', 'sales_order'));
    expect((await rows('pg', 'order_line'))[0]).toMatchObject({ order_id: 'ord2', line_no: 1 });

    await updateRow(handles.pg.client, tables.pg.sales_order, { order_id: 'ord2' }, { description: 'changed at pg' });
    await backward();
    expect((await rows('ms', 'sales_order'))[0]).toMatchObject({ description: 'changed at pg', quantity: 100 });
    // The applied change was captured on SQL Server with its origin: transport does not send it back.
    const echo = await transportOnce(program(1000), handles.ms, handles.pg);
    expect(echo.skippedEcho).toBeGreaterThan(0);

    await deleteRow(handles.ms.client, tables.ms.sales_order, { order_id: 'ord2' });
    await forward();
    expect(await rows('pg', 'sales_order')).toEqual([]);
  });

  it('carries every type family from SQL Server to PostgreSQL', async () => {
    const zoo = { ...ZOO, c_decimal: '12345678.123456' };
    await insertRow(handles.ms.client, tables.ms.type_zoo, zoo);
    await forward();
    const [row] = await rows('pg', 'type_zoo');
    for (const [name, value] of Object.entries(zoo)) {
      const column = tables.pg.type_zoo.columns.find((c) => c.name === name)!;
      expect(sameValue(column, row[name], value), name).toBe(true);
    }
  });
});
