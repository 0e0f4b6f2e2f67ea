import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getDialect } from '../../src/dialects/registry.ts';
import { runCli, spawnDaemon } from '../helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'dsync-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('dsync run', () => {
  it('syncs on its own, serves health, metrics and status, and stops on SIGTERM', async () => {
    const urls = [join(dir, 'a.db'), join(dir, 'b.db')];
    writeFileSync(
      join(dir, 'dsync.config.json'),
      JSON.stringify({
        nodes: { a: { dialect: 'sqlite', url: urls[0], serverId: 's-a' }, b: { dialect: 'sqlite', url: urls[1], serverId: 's-b' } },
        tables: ['sales_order'],
        programs: [
          { id: 1000, type: 'transport', from: 'a', to: 'b', intervalSeconds: 0.1 },
          { id: 1001, type: 'import', node: 'b', intervalSeconds: 30 },
          { id: 1002, type: 'transport', from: 'b', to: 'a', intervalSeconds: 0.1 },
          { id: 1003, type: 'import', node: 'a', intervalSeconds: 30 },
        ],
      }),
    );
    const sqlite = await getDialect('sqlite');
    const [a, b] = [await sqlite.connect(urls[0], 'a'), await sqlite.connect(urls[1], 'b')];
    for (const c of [a, b]) await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    expect((await runCli(['generate'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['apply'], { cwd: dir })).code).toBe(0);

    const daemon = spawnDaemon(['run', '--port', '0'], dir);
    let exit: number | null = null;
    try {
      const base = await daemon.address();
      expect(base).not.toBe('');
      await a.exec("INSERT INTO sales_order VALUES ('r1', 'from a')");
      await b.exec("INSERT INTO sales_order VALUES ('r2', 'from b')");
      // The imports sleep 30 s: only the daemon's wake-up after a transport can bring these over
      // within 20 s (a generous window for a loaded machine, still short of a lost wake-up).
      let rows: unknown[][] = [[], []];
      for (let i = 0; i < 200 && (rows[0].length < 2 || rows[1].length < 2); i++) {
        await new Promise((r) => setTimeout(r, 100));
        rows = [(await a.query('SELECT order_id FROM sales_order')).rows, (await b.query('SELECT order_id FROM sales_order')).rows];
      }
      expect(
        rows.map((r) => r.length),
        `daemon output:\n${daemon.output()}`,
      ).toEqual([2, 2]);
      const health = await fetch(`http://${base}/healthz`);
      expect(health.status).toBe(200);
      const metrics = await (await fetch(`http://${base}/metrics`)).text();
      expect(metrics).toMatch(/^dsync_changes_applied_total\{program="1001",type="import",node="b"\} 1$/m);
      expect(metrics).toMatch(/^dsync_changes_moved_total\{program="1000",type="transport",node="a"\} 1$/m);
      expect(metrics).toMatch(/^dsync_up 1$/m);
      const page = await (await fetch(`http://${base}/`)).text();
      expect(page).toMatch(/<td>1001<\/td><td>import b<\/td>/);
      expect((await fetch(`http://${base}/nope`)).status).toBe(404);
    } finally {
      exit = await daemon.stop();
    }
    expect(exit).toBe(0);
    expect(daemon.output()).toMatch(/dsync run: stopped/);
    await a.close();
    await b.close();
  });
});
