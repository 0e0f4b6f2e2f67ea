/**
 * The status page in a real browser (headless Chromium through playwright-core): under
 * `dsync run` with a SQLite pair whose import on b is paused, the page lists every
 * program and shows b's import backlog as the database counts it, loads nothing from
 * anywhere else, and draws the lag chart. A screenshot is left in the temp dir (its path
 * is printed) for a person to look at.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { runCli } from '../helpers/cli.ts';
import { REQUIRE_SERVERS } from '../helpers/databases.ts';
import { ROOT } from '../helpers/fixtures.ts';

const CHROMIUM = process.env.DSYNC_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  if (REQUIRE_SERVERS) throw new Error(`status page browser test: no Chromium at ${CHROMIUM}; install it: apt-get install -y chromium`);
  console.warn(`status page browser test: skipped, no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
}
const dir = mkdtempSync(join(tmpdir(), 'dsync-page-'));
afterAll(() => {
  if (!process.env.DSYNC_KEEP_SCREENSHOT) rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(haveChromium)('status page in a browser', () => {
  it('shows the programs and the backlog the database holds', async () => {
    const urls = [join(dir, 'a.db'), join(dir, 'b.db')];
    writeFileSync(
      join(dir, 'dsync.config.json'),
      JSON.stringify({
        nodes: { a: { dialect: 'sqlite', url: urls[0], serverId: 's-a' }, b: { dialect: 'sqlite', url: urls[1], serverId: 's-b' } },
        tables: ['sales_order'],
        programs: [
          { id: 1000, type: 'transport', from: 'a', to: 'b', intervalSeconds: 0.2 },
          { id: 1001, type: 'import', node: 'b', intervalSeconds: 0.2, paused: true },
          { id: 1002, type: 'transport', from: 'b', to: 'a', intervalSeconds: 0.2 },
          { id: 1003, type: 'import', node: 'a', intervalSeconds: 0.2 },
        ],
      }),
    );
    const sqlite = await getDialect('sqlite');
    const [a, b] = [await sqlite.connect(urls[0], 'a'), await sqlite.connect(urls[1], 'b')];
    for (const c of [a, b]) await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    expect((await runCli(['generate'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['apply'], { cwd: dir })).code).toBe(0);
    for (let i = 1; i <= 7; i++) await a.exec(`INSERT INTO sales_order VALUES ('p${i}', 'row ${i}')`);
    const count = async (c: typeof a, sql: string) => Number(Object.values((await c.query<Row>(sql)).rows[0])[0]);
    const captured = await count(a, 'SELECT count(*) FROM ds_change_outbox');
    expect(captured).toBeGreaterThan(0);

    const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), 'run', '--port', '0'], { cwd: dir });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      let base = '';
      for (let i = 0; i < 100 && !base; i++) {
        await sleep(100);
        base = /http:\/\/(127\.0\.0\.1:\d+)\//.exec(output)?.[1] ?? '';
      }
      expect(base, output).not.toBe('');
      // The transport moves everything into b's inbox; b's import is paused, so all of it waits there.
      let inbox = 0;
      for (let i = 0; i < 100 && inbox < captured; i++) {
        await sleep(100);
        inbox = await count(b, 'SELECT count(*) FROM ds_change_inbox');
      }
      expect(inbox, output).toBe(captured);
      const pointer = await count(b, 'SELECT last_pointer FROM ds_program_parameter WHERE id = 1001');
      const backlog = await count(b, `SELECT count(*) FROM ds_change_inbox WHERE id > ${pointer}`);
      expect(backlog).toBe(captured);

      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(`http://${base}/`)) foreign.push(r.url());
      });
      const response = await page.goto(`http://${base}/`);
      expect(response?.status()).toBe(200);
      const rows = page.locator('table tr');
      expect(await rows.count()).toBe(5);
      for (const id of ['1000', '1001', '1002', '1003'])
        await expect(page.locator('td', { hasText: new RegExp(`^${id}$`) }).count()).resolves.toBe(1);
      const row1001 = page.locator('tr', { has: page.locator('td', { hasText: /^1001$/ }) });
      expect((await row1001.locator('td.backlog').textContent())?.trim()).toBe(String(backlog));
      expect(await row1001.textContent()).toMatch(/paused/);
      const row1000 = page.locator('tr', { has: page.locator('td', { hasText: /^1000$/ }) });
      expect((await row1000.locator('td.backlog').textContent())?.trim()).toBe('0');
      expect(await page.locator('svg polyline, svg circle').count()).toBeGreaterThan(0);
      expect(await page.locator('text=healthy').count()).toBeGreaterThan(0);
      const shot = join(dir, 'status-page.png');
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`status page screenshot: ${shot}`);
      expect(foreign).toEqual([]);
      // `dsync status` reads the same backlog, and the lag of changes waiting since before the daemon started.
      const status = await runCli(['status', '--json'], { cwd: dir });
      const entry = JSON.parse(status.stdout).programs.find((p: { id: number }) => p.id === 1001);
      expect(entry).toMatchObject({ backlog, lagSeconds: expect.any(Number) });
      expect(entry.lagSeconds).toBeGreaterThan(0);
      expect((await runCli(['status'], { cwd: dir })).stdout).toMatch(new RegExp(`program 1001 .* backlog +${backlog} lag +[\\d.]+s`));
    } finally {
      await browser.close();
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    await a.close();
    await b.close();
  }, 90_000);
});
