/**
 * Capture mode log on PostgreSQL (docs/capture-modes.md#log), on a private cluster with
 * wal_level=logical (the shared server keeps wal_level=replica):
 * - the seed's walkthrough with testapp1 in mode log, through `dsync sync`: the target ends
 *   as in trigger mode, and the outbox rows are the triggers' rows;
 * - a seeded random workload in mode log and in trigger mode: the same rows at the target,
 *   one outbox row per change (`DSYNC_SEED=…` replays one);
 * - capture processes killed with SIGKILL at random moments while the source writes:
 *   afterwards every change is in the outbox exactly once;
 * - two-way: what the import writes into a log-mode table is not captured again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { captureLogPass } from '../../src/index.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { captured } from '../../src/runtime/capture/capture-pass.ts';
import { workload, writeRow } from '../helpers/workload.ts';
import { runCli } from '../helpers/cli.ts';
import type { TestDatabase } from '../helpers/databases.ts';
import { FIXTURES, ROOT } from '../helpers/fixtures.ts';
import { type PrivatePostgres, postgresBinDir, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { random } from '../helpers/random.ts';
import { SEED_ORDER } from '../helpers/seed-order.ts';
import { createSyncPair, pairRows, type SyncPair } from '../helpers/sync-pair.ts';

const SEED = Number(process.env.DSYNC_SEED ?? 20261130);
const haveServer = postgresBinDir() !== undefined;
if (!haveServer) console.warn('log-capture tests skipped: no PostgreSQL server binaries (apt-get install postgresql)');

let cluster: PrivatePostgres;
let databases = 0;

/** A database on the private cluster; it goes with the cluster (a slot keeps it from being dropped alone). */
async function privateDatabase(prefix: string): Promise<TestDatabase> {
  const url = await cluster.createDatabase(`${prefix}_${++databases}`);
  return { dialect: 'postgres', url, embedded: false, drop: async () => undefined };
}

async function logPair(tables: string[]): Promise<SyncPair> {
  return createSyncPair('postgres', 'postgres', 'latest-wins', {
    logTables: tables,
    databases: [await privateDatabase('log_a'), await privateDatabase('log_b')],
  });
}

/** The outbox as comparable rows: values parsed (trigger JSON comes from jsonb, with its own key order). */
async function outboxRows(client: DbClient): Promise<Array<Record<string, unknown>>> {
  const { rows } = await client.query<Row>(
    `SELECT object_table, object_operation, object_id, object_id_old, object_attribute, object_value, object_value_old,
            updated_by_server_id, row_cl, row_cl_old
     FROM ds_change_outbox ORDER BY id`,
  );
  const json = (v: unknown) => (v === null ? null : JSON.parse(String(v)));
  return rows.map((r) => ({
    ...r,
    object_id: json(r.object_id),
    object_id_old: json(r.object_id_old),
    object_attribute: String(r.object_attribute).split(',').sort().join(','),
    object_value: json(r.object_value),
    object_value_old: json(r.object_value_old),
  }));
}

describe.runIf(haveServer)('capture mode log on PostgreSQL', () => {
  beforeAll(async () => {
    cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
  }, 120_000);
  afterAll(() => cluster?.destroy());

  describe("the seed's walkthrough, testapp1 in mode log, through dsync sync", () => {
    const run = async (mode: 'log' | 'trigger') => {
      const dir = mkdtempSync(join(tmpdir(), 'dsync-log-seed-'));
      const clients: DbClient[] = [];
      try {
        const urls = [await cluster.createDatabase(`seed_${mode}_1`), await cluster.createDatabase(`seed_${mode}_2`)];
        const dialect = await getDialect('postgres');
        for (const [url, name] of [
          [urls[0], 'testapp1'],
          [urls[1], 'testapp2'],
        ]) {
          const client = await dialect.connect(url, name);
          clients.push(client);
          for (const s of dialect.splitScript(readFileSync(join(FIXTURES, 'seed', 'sales_order.postgres.sql'), 'utf8')))
            await client.exec(s);
        }
        const [app1, app2] = clients;
        writeFileSync(
          join(dir, 'dsync.config.json'),
          JSON.stringify({
            nodes: {
              testapp1: {
                dialect: 'postgres',
                url: urls[0],
                serverId: 'server1',
                ...(mode === 'log' ? { capture: { sales_order: 'log' } } : {}),
              },
              testapp2: { dialect: 'postgres', url: urls[1], serverId: 'server2' },
            },
            tables: ['sales_order'],
            programs: [
              { id: 1000, type: 'transport', from: 'testapp1', to: 'testapp2', intervalSeconds: 5 },
              { id: 1001, type: 'import', node: 'testapp2', intervalSeconds: 5 },
            ],
          }),
        );
        const cli = async (...args: string[]) => {
          const result = await runCli(args, { cwd: dir });
          expect(result.stderr).toBe('');
          expect(result.code).toBe(0);
          return result.stdout;
        };
        await cli('generate');
        await cli('apply');
        const table2 = await app2.dialect.introspect(app2, 'sales_order');
        const steps = readFileSync(join(FIXTURES, 'seed', 'steps.sql'), 'utf8')
          .split(/;\s*\n\s*\n/)
          .map((s) => s.replace(/^(--[^\n]*\n)+/, '').trim())
          .filter(Boolean);
        const seen: unknown[] = [];
        for (const statement of steps) {
          await app1.exec(statement);
          await cli('sync');
          seen.push(await selectAllRows(app2, table2));
        }
        const status = JSON.parse(await cli('status', '--json'));
        const text = await cli('status');
        return { seen, outbox: await outboxRows(app1), logCapture: status.logCapture, text };
      } finally {
        for (const c of clients) await c.close().catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
    };

    it('insert, update, delete reach testapp2 as in trigger mode, with the same outbox rows', async () => {
      const byLog = await run('log');
      expect(byLog.seen).toEqual([[SEED_ORDER], [{ ...SEED_ORDER, description: 'old order change1' }], []]);
      const byTrigger = await run('trigger');
      expect(byLog.seen).toEqual(byTrigger.seen);
      expect(byLog.outbox.map((r) => r.object_operation)).toEqual(['I', 'U', 'D']);
      expect(byLog.outbox).toEqual(byTrigger.outbox);
      // dsync status: the slot and the WAL it holds back (a pass just ran: little).
      expect(byLog.logCapture).toEqual([
        {
          node: 'testapp1',
          slot: expect.stringMatching(/^dsync_testapp1_/),
          confirmedLsn: expect.any(String),
          retainedBytes: expect.any(Number),
        },
      ]);
      expect(byLog.text).toMatch(
        /node testapp1: capture mode log, slot dsync_testapp1_\w+ confirmed to [0-9A-F]+\/[0-9A-F]+, retains [\d.]+ kB of WAL/,
      );
      expect(byTrigger.logCapture).toBeUndefined();
    }, 300_000);
  });

  it(`seed ${SEED}: a random workload gives the same rows in mode log as in trigger mode, one outbox row per change`, async () => {
    const run = async (mode: 'log' | 'trigger') => {
      const pair =
        mode === 'log'
          ? await logPair(['sales_order', 'order_line'])
          : await createSyncPair('postgres', 'postgres', 'latest-wins', {
              databases: [await privateDatabase('trg_a'), await privateDatabase('trg_b')],
            });
      try {
        let changes = 0;
        for (const step of workload(SEED, 120)) {
          if (step === 'sync') {
            if (mode === 'log') await captureLogPass(pair.config, pair.a, { batchMessages: 5 });
            await pair.forward();
            continue;
          }
          changes++;
          await pair.a.client.transaction((tx) => writeRow(tx, step));
        }
        if (mode === 'log') await captureLogPass(pair.config, pair.a);
        await pair.forward();
        const rows = (side: 'a' | 'b') => pairRows(pair, side, ['sales_order', 'order_line']);
        return {
          changes,
          outbox: await outboxRows(pair.a.client),
          errors: await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error'),
          source: await rows('a'),
          target: await rows('b'),
        };
      } finally {
        await pair.close();
      }
    };
    const byLog = await run('log');
    const byTrigger = await run('trigger');
    expect(byLog.errors).toBe(0);
    expect(byLog.outbox.length).toBe(byLog.changes);
    expect(byLog.outbox).toEqual(byTrigger.outbox);
    expect(byLog.target).toEqual(byTrigger.target);
    expect(byLog.target).toEqual(byLog.source);
    expect(byLog.target.sales_order.length + byLog.target.order_line.length).toBeGreaterThan(0);
  }, 180_000);

  it(`seed ${SEED}: capture processes killed at random moments lose and double nothing`, async () => {
    const pair = await logPair(['sales_order']);
    const dir = mkdtempSync(join(tmpdir(), 'dsync-log-kill-'));
    const next = random(SEED);
    const children: ChildProcess[] = [];
    try {
      const configFile = join(dir, 'config.json');
      writeFileSync(configFile, JSON.stringify(pair.config));
      // The child: capture passes in a loop, small batches (many outbox commits and slot confirms to die between).
      const script = join(dir, 'passes.mts');
      writeFileSync(
        script,
        `import { captureLogPass } from ${JSON.stringify(join(ROOT, 'src/index.ts'))};
         import { NodeSet } from ${JSON.stringify(join(ROOT, 'src/runtime/nodes.ts'))};
         const config = JSON.parse(${JSON.stringify(`${readFileSync(configFile, 'utf8')}`)});
         const nodes = new NodeSet(config);
         const handle = await nodes.get('a');
         for (;;) {
           await captureLogPass(config, handle, { batchMessages: 100 });
           process.stdout.write('pass\\n');
         }`,
      );
      const startChild = () => {
        // tsx as a loader, not its CLI (which runs the script in a grandchild that SIGKILL would miss).
        const loader = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
        const child = spawn(process.execPath, ['--import', loader, script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr?.on('data', (chunk) => (stderr += chunk));
        const passed = new Promise<void>((resolve) => {
          child.stdout?.on('data', () => resolve());
          child.once('exit', () => resolve());
        });
        child.on('exit', (code, signal) => {
          if (signal !== 'SIGKILL') console.error(`capture child ended with ${code ?? signal}: ${stderr}`);
        });
        children.push(child);
        return { child, passed };
      };
      // The writer: unique descriptions, so each change is recognisable in the outbox; some transactions of several rows.
      let written = 0;
      const expected = new Map<string, number>();
      const progress: number[] = [];
      const write = async (n: number, pause = 10) => {
        // An application's pace, not a flood: the passes should catch up now and then.
        await new Promise((resolve) => setTimeout(resolve, pause));
        await pair.a.client.transaction(async (tx) => {
          for (let i = 0; i < n; i++) {
            const id = `k${written % 40}`;
            const description = `w${++written}`;
            const { rowCount } = await tx.query('UPDATE sales_order SET description = $1 WHERE order_id = $2', [description, id]);
            if (rowCount === 0)
              await tx.query('INSERT INTO sales_order (order_id, description, quantity) VALUES ($1, $2, 1)', [id, description]);
            expected.set(description, 1);
          }
        });
      };
      for (let round = 0; round < 6; round++) {
        const { child, passed } = startChild();
        // Writes while it starts, then a random while of writes during its passes, then SIGKILL.
        let started = false;
        passed.then(() => (started = true));
        while (!started) await write(1 + Math.floor(next() * 3), 100);
        const until = Date.now() + next() * 1500;
        while (Date.now() < until) await write(1 + Math.floor(next() * 3));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        progress.push(await pair.count(pair.a.client, 'SELECT count(*) FROM ds_change_outbox'));
      }
      await write(2);
      // A killed child's server session may still hold the slot's lock until its statement ends.
      let last = await captureLogPass(pair.config, pair.a);
      for (let i = 0; last.busy && i < 150; i++) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        last = await captureLogPass(pair.config, pair.a);
      }
      expect(last.busy).toBe(false);
      // The children did capture between kills (else this test would prove little).
      expect(progress.some((n) => n > 0)).toBe(true);
      const { rows } = await pair.a.client.query<Row>(
        "SELECT object_value::jsonb ->> 'description' AS d, count(*)::int AS n FROM ds_change_outbox GROUP BY 1",
      );
      const found = new Map(rows.map((r) => [String(r.d), Number(r.n)]));
      expect(written).toBeGreaterThan(20);
      expect(found).toEqual(expected);
      // And the target converges on the source.
      await pair.forward();
      expect(await selectAllRows(pair.b.client, pair.tables.b.sales_order)).toEqual(
        await selectAllRows(pair.a.client, pair.tables.a.sales_order),
      );
    } finally {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await pair.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('trigger → log while the application writes: every write is captured once, by a trigger or by the log', async () => {
    const pair = await createSyncPair('postgres', 'postgres', 'latest-wins', {
      databases: [await privateDatabase('sw_a'), await privateDatabase('sw_b')],
    });
    const writer = await pair.a.dialect.connect(pair.config.nodes.a.url, 'a');
    try {
      let written = 0;
      let stop = false;
      const writes = (async () => {
        while (!stop) {
          const n = ++written;
          await writer.query('INSERT INTO sales_order (order_id, description, quantity) VALUES ($1, $2, 1)', [`s${n}`, `w${n}`]);
          if (n > 1) await writer.query('UPDATE sales_order SET description = $1 WHERE order_id = $2', [`u${n}`, `s${n - 1}`]);
        }
      })();
      while (written < 20) await new Promise((resolve) => setTimeout(resolve, 20));
      // apply creates the slot before its transaction; writes between that and the capture file's lock are in the
      // slot and captured by the triggers. The publication gets the table only in apply's transaction, which hides
      // them, unless the table is in it already (left from an earlier log period: 0100 is not generated when a node
      // has no log-mode table left). Both on purpose, and a wide window: the log must skip what the triggers had.
      await pair.a.dialect.changeLog!.ensureSlot(pair.a.client, 'a');
      await pair.a.client.exec('ALTER PUBLICATION ds_log_capture ADD TABLE sales_order');
      const atSlot = written;
      while (written < atSlot + 10) await new Promise((resolve) => setTimeout(resolve, 20));
      // The switch: regenerate node a with sales_order in mode log and apply, the writer going on.
      const config = {
        ...pair.config,
        nodes: { ...pair.config.nodes, a: { ...pair.config.nodes.a, capture: { sales_order: 'log' as const } } },
      };
      const schemas = await introspectTables(config, pair.a.dialect, pair.a.client);
      writeFiles(join(config.generatedDir, 'a'), generateNode(config, config.nodes.a, pair.a.dialect, schemas));
      await applyNode(config, config.nodes.a, pair.a.dialect, pair.a.client);
      const atSwitch = written;
      while (written < atSwitch + 20) await new Promise((resolve) => setTimeout(resolve, 20));
      stop = true;
      await writes;
      await captureLogPass(config, pair.a);
      const { rows } = await pair.a.client.query<Row>(
        "SELECT object_value::jsonb ->> 'description' AS d, count(*)::int AS n FROM ds_change_outbox GROUP BY 1 ORDER BY 1",
      );
      const expected = new Map<string, number>();
      for (let n = 1; n <= written; n++) expected.set(`w${n}`, 1);
      for (let n = 2; n <= written; n++) expected.set(`u${n}`, 1);
      expect(new Map(rows.map((r) => [String(r.d), Number(r.n)]))).toEqual(expected);
      expect(await pair.count(pair.a.client, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'ds_sales_order_%'")).toBe(0);
    } finally {
      await writer.close();
      await pair.close();
    }
  }, 120_000);

  it('two-way: what the import writes into a log-mode table is not captured again', async () => {
    const pair = await logPair(['sales_order']);
    try {
      await pair.b.client.exec("INSERT INTO sales_order (order_id, description, quantity) VALUES ('from-b', 'b1', 1)");
      await pair.backward();
      const first = await captureLogPass(pair.config, pair.a);
      expect(first.captured).toBe(0);
      expect(first.skippedOwn).toBe(1);
      // The import recorded its change itself, with its origin: one row, from server-b.
      expect((await outboxRows(pair.a.client)).map((r) => [r.object_operation, r.updated_by_server_id])).toEqual([['I', 'server-b']]);
      await pair.a.client.exec("UPDATE sales_order SET description = 'a1' WHERE order_id = 'from-b'");
      await pair.b.client.exec("INSERT INTO sales_order (order_id, description, quantity) VALUES ('from-b2', 'b2', 2)");
      const report = await pair.syncAll();
      expect(report.captures.reduce((n, c) => n + captured(c), 0)).toBe(1);
      const outbox = await outboxRows(pair.a.client);
      expect(outbox.map((r) => [r.object_operation, r.updated_by_server_id])).toEqual([
        ['I', 'server-b'],
        ['U', 'server-a'],
        ['I', 'server-b'],
      ]);
      expect(await selectAllRows(pair.b.client, pair.tables.b.sales_order)).toEqual(
        await selectAllRows(pair.a.client, pair.tables.a.sales_order),
      );
      // Nothing more to capture, nothing echoed back to b.
      const again = await pair.syncAll();
      expect(again.captures.reduce((n, c) => n + captured(c), 0)).toBe(0);
      expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox')).toBe(1);
    } finally {
      await pair.close();
    }
  }, 120_000);
});
