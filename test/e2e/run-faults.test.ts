/**
 * Faults under `dsync run`: a PostgreSQL node that refuses every connection for a while
 * (ALLOW_CONNECTIONS false and its sessions terminated; the shared server stays up)
 * while writes go on at the other node. The daemon keeps running, retries with backoff,
 * shows the failure in /metrics, /healthz (past failAfterSeconds) and the status page,
 * and once the node is back every change arrives exactly once. And SIGTERM in the middle
 * of a drain: exit 0, the batch in hand committed or rolled back, nothing lost or doubled.
 * And a stop held up by a lock another session keeps: the daemon says what it waits for,
 * a second SIGTERM ends it at once, and a later sync still delivers every change once.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { runCli } from '../helpers/cli.ts';
import { createTestDatabase, PG_ADMIN_URL, postgresMode, type TestDatabase } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';

const server = (await postgresMode()) === 'server';
if (!server)
  console.warn('run-faults: skipped, it needs a PostgreSQL server (blocking a database is not possible on the embedded stand-in)');
const dir = mkdtempSync(join(tmpdir(), 'dsync-faults-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metricValue = (text: string, name: string, labels: string) =>
  Number(new RegExp(`^${name}\\{${labels}\\} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

async function admin(sql: string): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Two fresh PostgreSQL nodes a and b with `sales_order` and their sync objects, linked both ways by `link`'s settings. */
async function linkedPair(name: string, link: Record<string, unknown>) {
  const dbs: TestDatabase[] = [
    await createTestDatabase('postgres', `dsync_${name}a`),
    await createTestDatabase('postgres', `dsync_${name}b`),
  ];
  const config = join(dir, `${name}.json`);
  writeFileSync(
    config,
    JSON.stringify({
      nodes: {
        a: { dialect: 'postgres', url: dbs[0].url, serverId: 's-a' },
        b: { dialect: 'postgres', url: dbs[1].url, serverId: 's-b' },
      },
      tables: ['sales_order'],
      links: [{ between: ['a', 'b'], ...link }],
      generatedDir: join(dir, `generated-${name}`),
    }),
  );
  const d = await getDialect('postgres');
  const [a, b] = [await d.connect(dbs[0].url, 'a'), await d.connect(dbs[1].url, 'b')];
  for (const c of [a, b]) await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
  expect((await runCli(['--config', config, 'generate'])).code).toBe(0);
  expect((await runCli(['--config', config, 'apply'])).code).toBe(0);
  return {
    config,
    d,
    a,
    b,
    urls: { a: dbs[0].url, b: dbs[1].url },
    async close() {
      for (const c of [a, b]) await c.close().catch(() => undefined);
      for (const db of dbs) await db.drop();
    },
  };
}

describe.runIf(server)('dsync run with a database that goes away and comes back', () => {
  it('keeps running, reports the failure, and delivers every change once', async () => {
    const pair = await linkedPair('fault', { intervalSeconds: 0.5, failAfterSeconds: 2 });
    const { config, d, a } = pair;
    let b: DbClient = pair.b;
    const bName = new URL(pair.urls.b).pathname.slice(1);

    const child = spawn(
      process.execPath,
      [join(ROOT, 'bin', 'dsync.js'), '--config', config, 'run', '--port', '0', '--log-format', 'json'],
      { cwd: dir },
    );
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    let exitCode: number | null = null;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve((exitCode = code ?? -1))));
    // Inserts and updates on a, every 30 ms, before, during and after b's outage.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        written++;
        await a.exec(`INSERT INTO sales_order VALUES ('f${written}', 'v1')`);
        if (written % 3 === 0) await a.exec(`UPDATE sales_order SET description = 'v2' WHERE order_id = 'f${written - 1}'`);
        await sleep(30);
      }
    })();
    try {
      let base = '';
      for (let i = 0; i < 100 && !base; i++) {
        await sleep(100);
        base = /http:\/\/(127\.0\.0\.1:\d+)\//.exec(output)?.[1] ?? '';
      }
      expect(base, output).not.toBe('');
      await sleep(1500);
      expect((await fetch(`http://${base}/healthz`)).status).toBe(200);

      await b.close();
      await admin(`ALTER DATABASE ${bName} ALLOW_CONNECTIONS false`);
      await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${bName}' AND pid <> pg_backend_pid()`);
      const blockedAt = Date.now();
      // Failing past failAfterSeconds (2 s): /healthz and dsync_up say so; one failed pass alone would not.
      let health = 200;
      while (health === 200 && Date.now() - blockedAt < 15_000) {
        await sleep(250);
        health = (await fetch(`http://${base}/healthz`)).status;
      }
      expect(health, output).toBe(503);
      expect(Date.now() - blockedAt).toBeGreaterThanOrEqual(2000);
      const during = await (await fetch(`http://${base}/metrics`)).text();
      expect(metricValue(during, 'dsync_program_errors_total', 'program="1001",type="import",node="b"')).toBeGreaterThan(0);
      expect(metricValue(during, 'dsync_program_failing_seconds', 'program="1001",type="import",node="b"')).toBeGreaterThan(1);
      expect(during).toMatch(/^dsync_up 0$/m);
      // The transport b -> a reads b: failing too; a's own import is not stopped by it.
      expect(metricValue(during, 'dsync_program_failing_seconds', 'program="1003",type="import",node="a"')).toBe(0);
      const page = await (await fetch(`http://${base}/`)).text();
      expect(page).toMatch(/a program is failing/);
      expect(page).toMatch(/failing for \d+ s/);
      await sleep(1000);

      await admin(`ALTER DATABASE ${bName} ALLOW_CONNECTIONS true`);
      await sleep(500);
      writing = false;
      await writer;
      b = await d.connect(pair.urls.b, 'b');
      await b.exec("INSERT INTO sales_order VALUES ('from-b', 'after the outage')");
      const table = await d.introspect(a, 'sales_order');
      let different = true;
      for (const started = Date.now(); different && Date.now() - started < 60_000; ) {
        await sleep(500);
        different = hasDifferences(await compareTables({ client: a, table }, { client: b, table }));
      }
      expect(different, `daemon output:\n${output.slice(-4000)}`).toBe(false);
      const count = async (c: DbClient, sql: string) => Number(Object.values((await c.query<Row>(sql)).rows[0])[0]);
      expect(await count(b, 'SELECT count(*) FROM sales_order')).toBe(written + 1);
      // Once: every change captured on a is in b's inbox exactly once, none parked.
      const captured = await count(a, "SELECT count(*) FROM ds_change_outbox WHERE updated_by_server_id = 's-a'");
      expect(await count(b, "SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 's-a'")).toBe(captured);
      expect(await count(b, 'SELECT count(*) FROM ds_change_error')).toBe(0);
      for (let i = 0; i < 40 && (await fetch(`http://${base}/healthz`)).status !== 200; i++) await sleep(250);
      expect((await fetch(`http://${base}/healthz`)).status).toBe(200);
      expect(exitCode, 'the daemon must not exit on a database outage').toBeNull();
      const events = output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { event?: string; program?: number; code?: string });
      expect(events.some((e) => e.event === 'pass_failed' && e.program === 1001 && e.code)).toBe(true);
      expect(events.some((e) => e.event === 'recovered' && e.program === 1001)).toBe(true);
    } finally {
      writing = false;
      await writer.catch(() => undefined);
      await admin(`ALTER DATABASE ${bName} ALLOW_CONNECTIONS true`).catch(() => undefined);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      await b.close().catch(() => undefined);
      await pair.close();
    }
  }, 150_000);

  it('SIGTERM in the middle of a drain exits 0 and loses or doubles nothing', async () => {
    const { config, d, a, b, close } = await linkedPair('term', { intervalSeconds: 0.2, batchSize: 50 });
    try {
      await a.exec("INSERT INTO sales_order SELECT 't' || g, 'row ' || g FROM generate_series(1, 3000) g");
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), '--config', config, 'run', '--port', '0'], { cwd: dir });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      // Stop it as soon as the first batches have arrived, while most are still in flight.
      let arrived = 0;
      for (let i = 0; i < 300 && arrived === 0; i++) {
        await sleep(20);
        arrived = Number((await b.query<Row>('SELECT count(*) AS n FROM sales_order')).rows[0].n);
      }
      child.kill('SIGTERM');
      const started = Date.now();
      expect(await exited, output).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(output).toMatch(/"event":"stopped"/);
      const partial = Number((await b.query<Row>('SELECT count(*) AS n FROM sales_order')).rows[0].n);
      expect(partial, 'stopped mid-drain (else this test proves nothing)').toBeLessThan(3000);
      // What the stopped daemon left is finished by a plain sync: all rows, each change once.
      expect((await runCli(['--config', config, 'sync'])).code).toBe(0);
      const table = await d.introspect(a, 'sales_order');
      expect(hasDifferences(await compareTables({ client: a, table }, { client: b, table }))).toBe(false);
      const count = async (c: DbClient, sql: string) => Number(Object.values((await c.query<Row>(sql)).rows[0])[0]);
      expect(await count(b, "SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 's-a'")).toBe(
        await count(a, "SELECT count(*) FROM ds_change_outbox WHERE updated_by_server_id = 's-a'"),
      );
    } finally {
      await close();
    }
  }, 120_000);

  it('a stop held up by a lock says what it waits for, and a second SIGTERM ends it at once, losing nothing', async () => {
    const { config, d, a, b, urls, close } = await linkedPair('held', { intervalSeconds: 0.2 });
    const blocker = await d.connect(urls.b, 'b');
    try {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), '--config', config, 'run', '--port', '0'], { cwd: dir });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      let ended: { code: number | null; signal: NodeJS.Signals | null } | null = null;
      const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => resolve(void (ended = { code, signal }))));
      const count = async (c: DbClient, sql: string) => Number(Object.values((await c.query<Row>(sql)).rows[0])[0]);
      await a.exec("INSERT INTO sales_order VALUES ('h0', 'first')");
      for (let i = 0; i < 300 && (await count(b, 'SELECT count(*) FROM sales_order')) === 0; i++) await sleep(50);
      expect(await count(b, 'SELECT count(*) FROM sales_order'), output).toBe(1);
      // Every program row of b locked: b's import (and the transport whose pointer b keeps) waits in its next pass.
      await blocker.exec('BEGIN');
      await blocker.query('SELECT id FROM ds_program_parameter FOR UPDATE');
      await a.exec("INSERT INTO sales_order SELECT 'h' || g, 'held' FROM generate_series(1, 20) g");
      await sleep(1500);
      child.kill('SIGTERM');
      for (let i = 0; i < 300 && !/still stopping after/.test(output); i++) await sleep(100);
      // b's import, at least, is named with what it does.
      expect(output).toMatch(/"msg":"still stopping after 1\d s; waiting for: [^"]*program 1001 \(a pass, \d+\.\d s\)/);
      expect(ended, output).toBeNull();
      child.kill('SIGTERM');
      await exited;
      expect(ended, output).toEqual({ code: null, signal: 'SIGTERM' });
      await blocker.exec('ROLLBACK');
      // A plain sync after the killed daemon: every row, each change once.
      expect((await runCli(['--config', config, 'sync'])).code).toBe(0);
      const table = await d.introspect(a, 'sales_order');
      expect(hasDifferences(await compareTables({ client: a, table }, { client: b, table }))).toBe(false);
      expect(await count(b, 'SELECT count(*) FROM sales_order')).toBe(21);
      expect(await count(b, "SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 's-a'")).toBe(
        await count(a, "SELECT count(*) FROM ds_change_outbox WHERE updated_by_server_id = 's-a'"),
      );
      expect(await count(b, 'SELECT count(*) FROM ds_change_error')).toBe(0);
    } finally {
      await blocker.exec('ROLLBACK').catch(() => undefined);
      await blocker.close();
      await close();
    }
  }, 120_000);
});
