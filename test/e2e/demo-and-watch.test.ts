/**
 * The README's main job and the recurring mode, through the real binary:
 * `dsync demo` shows the seed walkthrough and exits 0; `import --watch` keeps
 * applying at the program's interval and stops cleanly on SIGTERM; an import whose
 * table is missing at the target says so with the node and the fix.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getDialect } from '../../src/dialects/registry.ts';
import { runCli } from '../helpers/cli.ts';
import { ROOT } from '../helpers/fixtures.ts';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsync-e2e-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('dsync demo', () => {
  it('runs the seed walkthrough on embedded SQLite and exits 0', async () => {
    const dir = tempDir();
    const r = await runCli(['demo'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.match(/✓ testapp2 matches testapp1/g)).toHaveLength(3);
    expect(r.stdout).toMatch(
      /step 1: insert[\s\S]*ord2\s+\| wholesale\s+\| old order[\s\S]*step 2[\s\S]*old order change1[\s\S]*step 3[\s\S]*\(no rows\)/,
    );
    expect(r.stdout).toMatch(/all steps in sync/);
  });
});

async function twoSqliteNodes(dir: string) {
  const urls = [join(dir, 'a.db'), join(dir, 'b.db')];
  writeFileSync(
    join(dir, 'dsync.config.json'),
    JSON.stringify({
      nodes: { a: { dialect: 'sqlite', url: urls[0], serverId: 's-a' }, b: { dialect: 'sqlite', url: urls[1], serverId: 's-b' } },
      tables: ['sales_order'],
      programs: [
        { id: 1000, type: 'transport', from: 'a', to: 'b', intervalSeconds: 0.2 },
        { id: 1001, type: 'import', node: 'b', intervalSeconds: 0.2 },
      ],
    }),
  );
  const sqlite = await getDialect('sqlite');
  const clients = [];
  for (const [i, url] of urls.entries()) {
    const c = await sqlite.connect(url, i === 0 ? 'a' : 'b');
    await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    clients.push(c);
  }
  return clients;
}

describe('--watch', () => {
  it('keeps applying at the interval and stops on SIGTERM with exit 0', async () => {
    const dir = tempDir();
    const [a, b] = await twoSqliteNodes(dir);
    expect((await runCli(['generate'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['apply'], { cwd: dir })).code).toBe(0);
    const children = ['transport', 'import'].map((command) =>
      spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), command, '--program', command === 'transport' ? '1000' : '1001', '--watch'], {
        cwd: dir,
      }),
    );
    const exits = children.map((c) => new Promise<number | null>((resolve) => c.on('exit', (code) => resolve(code))));
    try {
      // Both must still be running after their first pass (a pass with nothing to do).
      await new Promise((r) => setTimeout(r, 2500));
      expect(children.map((c) => c.exitCode)).toEqual([null, null]);
      await a.exec("INSERT INTO sales_order VALUES ('w1', 'watched')");
      let rows: unknown[] = [];
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        rows = (await b.query("SELECT description FROM sales_order WHERE order_id = 'w1'")).rows;
      }
      expect(rows).toEqual([{ description: 'watched' }]);
    } finally {
      for (const c of children) c.kill('SIGTERM');
    }
    expect(await Promise.all(exits)).toEqual([0, 0]);
    await a.close();
    await b.close();
  });
});

describe('a table missing at the target', () => {
  it('stops the import with the node and the fix, exit 3', async () => {
    const dir = tempDir();
    const [a, b] = await twoSqliteNodes(dir);
    expect((await runCli(['generate'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['apply'], { cwd: dir })).code).toBe(0);
    await a.exec("INSERT INTO sales_order VALUES ('m1', 'x')");
    await b.exec('DROP TABLE sales_order');
    expect((await runCli(['transport', '--program', '1000'], { cwd: dir })).code).toBe(0);
    const r = await runCli(['import', '--program', '1001'], { cwd: dir });
    expect(r.code).toBe(3);
    expect(r.stderr.split('\n')[0]).toBe('dsync: node b: table sales_order does not exist');
    expect(r.stderr).toMatch(/hint: create it first/);
    await a.close();
    await b.close();
  });
});
