/**
 * A large import batch planned a slice at a time, each slice's row writes going while the next is
 * planned (apply-batch.ts planInSlices), against the same batch planned whole and then written
 * (DSYNC_PLAN_SLICE=0), on the same inbox: a pair a → b of PostgreSQL nodes, one-way and with b
 * forwarding (a transport b → a, so the applied records are written too); each round writes random
 * changes at a (inserts, updates of a few columns, deletes, key changes, several changes of one row,
 * NULLs, awkward values), moves them to b's inbox, makes random local changes at b (conflicts), then
 * copies b (CREATE DATABASE … TEMPLATE) and imports the original whole and the copy in slices of a
 * random size below the batch's. Tables, version entries, conflicts, parked and pending changes, the
 * pointer and the outbox must be the same. Seeded: the seed is printed on failure,
 * DSYNC_PLAN_SLICES_SEED replays it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Config, type ProgramConfig, parseConfig } from '../../src/config/config.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { postgresDialect } from '../../src/dialects/postgres/postgres-dialect.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';
import { applyFixtureSchema, FIXTURES } from '../helpers/fixtures.ts';
import { random } from '../helpers/random.ts';

const live = (await liveDialects()).includes('postgres');
const SEED = Number(process.env.DSYNC_PLAN_SLICES_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = Number(process.env.DSYNC_PLAN_SLICES_ROUNDS ?? 4);
const POLICIES = ['latest-wins', 'source-wins', 'target-wins', 'manual'] as const;
const BATCH = 150;

/** Node b's import run to the end of its inbox, its batches planned `slice` changes at a time (0: whole). */
async function importAllAtB(config: Config, nodes: NodeSet, slice: number): Promise<void> {
  const before = process.env.DSYNC_PLAN_SLICE;
  process.env.DSYNC_PLAN_SLICE = String(slice);
  try {
    const handle = await nodes.get('b');
    const program = config.programs.find((p) => p.id === 1001) as ProgramConfig;
    for (let pass = 0; pass < 20; pass++) {
      const r = await importOnce(config, program, handle);
      if (r.pointer >= r.horizon && r.heldBack === 0) break;
    }
  } finally {
    if (before === undefined) delete process.env.DSYNC_PLAN_SLICE;
    else process.env.DSYNC_PLAN_SLICE = before;
  }
}

/** Texts that are awkward somewhere: quotes, backslashes, JSON escapes, non-ASCII, an astral character, spaces. */
const TEXTS = [
  "it's",
  'back\\slash',
  'quote " here',
  'tab\there',
  'line\nbreak',
  'ünïcødé',
  '日本語',
  '😀 astral',
  '  padded  ',
  '',
  '{"a":1}',
  'NULL',
  '~tilde~',
];

describe.skipIf(!live).each([false, true])(
  `an import batch planned in slices gives what it gives planned whole (seed ${SEED}), b forwards: %s`,
  (forwards) => {
    const rnd = random(SEED + (forwards ? 1 : 0));
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
    let dbs: TestDatabase[] = [];
    let config: Config;
    let nodes: NodeSet;
    let generatedDir: string;
    let made = 0;

    beforeAll(async () => {
      const tag = forwards ? 'f' : 'o';
      dbs = [await createTestDatabase('postgres', `dsync_ps${tag}a`), await createTestDatabase('postgres', `dsync_ps${tag}b`)];
      generatedDir = mkdtempSync(join(tmpdir(), 'dsync-ps-'));
      config = configFor(dbs[1].url);
      nodes = new NodeSet(config);
      for (const name of ['a', 'b']) {
        const handle = await nodes.get(name);
        await applyFixtureSchema(handle.client);
        await handle.client.exec(
          name === 'a'
            ? 'CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric(14, 4), big bigint, flag boolean, at timestamp(6), note text)'
            : 'CREATE TABLE ledger (id bigint PRIMARY KEY, amount numeric(12, 2), big bigint, flag boolean, at timestamp(3), note text)',
        );
        const schemas = await introspectTables(config, handle.dialect, handle.client);
        writeFiles(join(generatedDir, name), generateNode(config, handle.node, handle.dialect, schemas));
        await applyNode(config, handle.node, handle.dialect, handle.client);
      }
    }, 120_000);

    afterAll(async () => {
      await nodes?.closeAll();
      for (const db of dbs) await db.drop().catch(() => undefined);
      if (generatedDir) rmSync(generatedDir, { recursive: true, force: true });
    });

    function configFor(bUrl: string): Config {
      const policies = new Map(['sales_order', 'Odd Names', 'type_zoo', 'order_line', 'ledger'].map((t) => [t, pick(POLICIES)]));
      return parseConfig(
        {
          nodes: {
            a: { dialect: 'postgres', url: dbs[0].url, serverId: 'server-a' },
            b: { dialect: 'postgres', url: bUrl, serverId: 'server-b' },
          },
          tables: [...policies].map(([name, conflict]) => ({ name, conflict })),
          programs: [
            { id: 1000, type: 'transport', from: 'a', to: 'b', batchSize: 400 },
            { id: 1001, type: 'import', node: 'b', batchSize: BATCH },
            // b forwards what it applies (the applied records are written in the batch) where it has a transport of its own.
            ...(forwards ? [{ id: 1002, type: 'transport', from: 'b', to: 'a', batchSize: 400 }] : []),
          ],
          generatedDir,
        },
        FIXTURES,
        null,
      );
    }

    const program = (c: Config, id: number) => c.programs.find((p) => p.id === id) as ProgramConfig;

    /** A value for a column of sales_order or "Odd Names", now and then NULL or awkward. */
    const text = (max: number) =>
      rnd() < 0.15 ? null : rnd() < 0.5 ? pick(TEXTS).slice(0, max) : `v${Math.floor(rnd() * 1e6)}`.slice(0, max);
    const quantity = () => (rnd() < 0.1 ? null : pick([0, -1, 2147483647, -2147483648, Math.floor(rnd() * 1000)]));
    const date = () =>
      rnd() < 0.1
        ? null
        : pick([
            '2024-02-29',
            '1970-01-01',
            '0001-01-01',
            '9999-12-31',
            `20${10 + Math.floor(rnd() * 20)}-0${1 + Math.floor(rnd() * 9)}-1${Math.floor(rnd() * 9)}`,
          ]);
    const timestamp = () =>
      rnd() < 0.1
        ? null
        : pick([
            '2024-02-29 23:59:59.999999',
            '1970-01-01 00:00:00',
            '2000-01-01 12:00:00.5',
            `2023-0${1 + Math.floor(rnd() * 9)}-11 10:${10 + Math.floor(rnd() * 49)}:00.123456`,
          ]);

    const orderColumns = () => ({
      order_type: text(20),
      description: text(200),
      product_type_name: text(50),
      customer_id: text(20),
      quantity: quantity(),
      order_date: date(),
      update_datetime: timestamp(),
      updated_by_user: text(50),
    });
    const oddColumns = () => ({
      select: text(100),
      "it's": text(100),
      MixedCase: text(100),
      'back`tick': text(100),
      'semi;colon': text(100),
    });
    const zooColumns = () => ({
      c_int: quantity(),
      c_bigint: pick([null, '9007199254740993', '-42']),
      c_decimal: pick([null, '12.500000', '-0.000001']),
      c_text: text(100),
      c_bytea: pick([null, '\\x00ff', '\\x']),
      c_json: pick([null, '{"b": [1, 2]}', '"s"', 'null']),
    });

    const ledgerColumns = () => ({
      amount: pick([null, '12.5', '0.01', '-99999999.99', '1.2345', '0', `${Math.floor(rnd() * 1e6)}.${Math.floor(rnd() * 100)}`]),
      big: pick([null, 9007199254740991, '9007199254740993', -9007199254740991, Math.floor(rnd() * 1e9)]),
      flag: pick([null, true, false]),
      at: pick([
        null,
        '2024-02-29 23:59:59.999999',
        '2024-01-01 10:00:00.123',
        '1999-12-31 23:59:59',
        `2020-01-0${1 + Math.floor(rnd() * 9)} 00:00:0${Math.floor(rnd() * 9)}.5`,
      ]),
      note: text(100),
    });
    const lit = (v: unknown) =>
      v === null ? 'NULL' : typeof v === 'number' || typeof v === 'boolean' ? String(v) : postgresDialect.sql.literal(String(v));
    const ident = (n: string) => postgresDialect.sql.ident(n);
    const set = (values: Record<string, unknown>) =>
      Object.entries(values)
        .filter(() => rnd() < 0.4)
        .map(([k, v]) => `${ident(k)} = ${lit(v)}`)
        .join(', ');

    /** One random statement on `table` at a node, among the keys it has. */
    async function change(client: DbClient, local: boolean): Promise<void> {
      const table = pick(['sales_order', 'sales_order', 'sales_order', 'Odd Names', 'type_zoo', 'ledger', 'ledger']);
      const [key, columns] =
        table === 'sales_order'
          ? ['order_id', orderColumns]
          : table === 'Odd Names'
            ? ['Key Col', oddColumns]
            : table === 'ledger'
              ? ['id', ledgerColumns]
              : ['id', zooColumns];
      const keys = (await client.query<Row>(`SELECT ${ident(key)} AS k FROM ${ident(table)}`)).rows.map((r) => r.k);
      // Few keys, so that rows meet again (in a batch, and as conflicts between the nodes).
      // Mostly new keys (the common case), now and then one of few (rows that meet again, in a batch and as conflicts).
      const unique = rnd() < 0.7;
      const fresh =
        table === 'sales_order'
          ? unique
            ? `n${++made}`
            : pick([`o${Math.floor(rnd() * 40)}`, `ü-${Math.floor(rnd() * 10)}`, `q'${Math.floor(rnd() * 5)}`])
          : unique
            ? 1000 + ++made
            : Math.floor(rnd() * 40);
      const r = rnd();
      if (keys.length === 0 || r < (local ? 0.1 : 0.35)) {
        const values = { [key]: fresh, ...columns() };
        await client.exec(
          `INSERT INTO ${ident(table)} (${Object.keys(values).map(ident).join(', ')}) VALUES (${Object.values(values).map(lit).join(', ')}) ON CONFLICT DO NOTHING`,
        );
        return;
      }
      const k = pick(keys);
      if (r < 0.8) {
        const s = set(columns());
        if (s) await client.exec(`UPDATE ${ident(table)} SET ${s} WHERE ${ident(key)} = ${lit(k)}`);
      } else if (r < 0.93) await client.exec(`DELETE FROM ${ident(table)} WHERE ${ident(key)} = ${lit(k)}`);
      else if (!keys.map(String).includes(String(fresh)))
        await client.exec(`UPDATE ${ident(table)} SET ${ident(key)} = ${lit(fresh)} WHERE ${ident(key)} = ${lit(k)}`);
    }

    /** What the comparison reads of a node: every table and dsync's state, as text. */
    async function state(client: DbClient): Promise<Record<string, unknown>> {
      const all = async (sql: string) => (await client.query<Row>(sql)).rows;
      const out: Record<string, unknown> = {};
      for (const [table, key] of [
        ['sales_order', 'order_id'],
        ['"Odd Names"', '"Key Col"'],
        ['type_zoo', 'id'],
        ['order_line', 'order_id, line_no'],
        ['ledger', 'id'],
      ])
        out[table] = await all(`SELECT t::text AS row FROM ${table} t ORDER BY ${key}`);
      out.entries = (
        await all(
          'SELECT table_name, row_key, cl, max_version, base_version, base_server, col_versions FROM ds_row_version ORDER BY table_name, row_key COLLATE "C"',
        )
      ).map((e) => ({
        ...e,
        col_versions: Object.entries(JSON.parse(String(e.col_versions || '{}'))).sort(([x], [y]) => (x < y ? -1 : 1)),
      }));
      out.conflicts = await all(
        `SELECT inbox_id, object_table, object_key, object_operation, kind, columns, local_values, incoming_values, incoming_old_values, policy, resolution
       FROM ds_change_conflict ORDER BY inbox_id, id`,
      );
      out.parked = await all(
        'SELECT inbox_id, object_table, object_key, status, blocked_by, reason, kind FROM ds_change_error ORDER BY inbox_id',
      );
      out.pending = await all('SELECT inbox_id, table_name, row_key, row_cl FROM ds_change_pending ORDER BY inbox_id');
      out.pointer = await all('SELECT id, last_pointer FROM ds_program_parameter ORDER BY id');
      // b's local changes and, where b forwards, its applied records, in the order written.
      out.outbox = await all(
        `SELECT object_table, object_id, object_id_old, object_value::text AS v, object_value_old::text AS vo, object_operation,
              updated_by_server_id, origin_change_id, row_cl, row_cl_old, change_version
       FROM ds_change_outbox ORDER BY id`,
      );
      return out;
    }

    it('gives the same tables, entries, conflicts, parked changes and outbox in every round', async () => {
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const a = await nodes.get('a');
          const n = 200 + Math.floor(rnd() * 400);
          for (let i = 0; i < n; i++) await change(a.client, false);
          for (let pass = 0; pass < 20; pass++)
            if ((await transportOnce(program(config, 1000), a, await nodes.get('b'))).moved === 0) break;
          const b = await nodes.get('b');
          const locals = Math.floor(rnd() * 60);
          for (let i = 0; i < locals; i++) await change(b.client, true);
          // The copy: b as it is, its inbox filled and its local changes made.
          await nodes.closeAll();
          const copyName = `${new URL(dbs[1].url).pathname.slice(1)}_c${round}`;
          const admin = await postgresDialect.connect(dbs[1].url.replace(/\/[^/]*$/, '/postgres'), 'admin');
          await admin.exec(`CREATE DATABASE ${ident(copyName)} TEMPLATE ${ident(new URL(dbs[1].url).pathname.slice(1))}`);
          const copyUrl = dbs[1].url.replace(/\/[^/]*$/, `/${copyName}`);
          const copyConfig = configFor(copyUrl);
          // Same policies as b's: configFor picks them anew, so take b's.
          copyConfig.tables = config.tables;
          const copyNodes = new NodeSet(copyConfig);
          // Slices of 1 up to the batch's size less one: a batch of more changes than that is planned in slices.
          const slice = 1 + Math.floor(rnd() * (BATCH - 1));
          try {
            nodes = new NodeSet(config);
            await importAllAtB(config, nodes, 0);
            await importAllAtB(copyConfig, copyNodes, slice);
            const whole = await state((await nodes.get('b')).client);
            const sliced = await state((await copyNodes.get('b')).client);
            for (const part of Object.keys(whole)) expect(sliced[part], `round ${round}, slices of ${slice}: ${part}`).toEqual(whole[part]);
            console.log(`round ${round}: ${n} changes, ${locals} local, slices of ${slice}`);
          } finally {
            await copyNodes.closeAll();
            await admin.exec(`DROP DATABASE IF EXISTS ${ident(copyName)}`);
            await admin.close();
          }
        }
      } catch (error) {
        console.error(`import-plan-slices: seed ${SEED} (replay: DSYNC_PLAN_SLICES_SEED=${SEED})`);
        throw error;
      }
    }, 600_000);
  },
);
