/**
 * Transport via NATS through the real binary: `dsync transport --program` runs both
 * halves once, and two daemons, one per site (`dsync run --node`), each running only
 * its own halves, keep the two nodes in sync through JetStream.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getDialect } from '../../src/dialects/registry.ts';
import { REQUIRE_SERVERS } from '../helpers/databases.ts';
import { runCli } from '../helpers/cli.ts';
import { ROOT } from '../helpers/fixtures.ts';
import { deleteStreams, NATS_START_HINT, NATS_URL, natsAnswers, uniqueNatsSettings } from '../helpers/nats.ts';

const natsUp = await natsAnswers();
if (!natsUp) {
  if (REQUIRE_SERVERS) throw new Error(`NATS (JetStream) does not answer at ${NATS_URL}; start it: ${NATS_START_HINT}`);
  console.warn(`skipping the NATS daemon test: no JetStream server at ${NATS_URL} (start it: ${NATS_START_HINT})`);
}
const dir = mkdtempSync(join(tmpdir(), 'dsync-nats-run-'));
const nats = uniqueNatsSettings();
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (natsUp) await deleteStreams(nats.streamPrefix);
});

describe.skipIf(!natsUp)('dsync via NATS', () => {
  it('one pass with `dsync transport`, then one daemon per site with `dsync run --node`', async () => {
    const urls = [join(dir, 'a.db'), join(dir, 'b.db')];
    const via = NATS_URL;
    writeFileSync(
      join(dir, 'dsync.config.json'),
      JSON.stringify({
        nodes: { a: { dialect: 'sqlite', url: urls[0], serverId: 's-a' }, b: { dialect: 'sqlite', url: urls[1], serverId: 's-b' } },
        tables: ['sales_order'],
        programs: [
          { id: 1000, type: 'transport', from: 'a', to: 'b', via, intervalSeconds: 0.2 },
          { id: 1001, type: 'import', node: 'b', intervalSeconds: 30 },
          { id: 1002, type: 'transport', from: 'b', to: 'a', via, intervalSeconds: 0.2 },
          { id: 1003, type: 'import', node: 'a', intervalSeconds: 30 },
        ],
        nats,
      }),
    );
    const sqlite = await getDialect('sqlite');
    const [a, b] = [await sqlite.connect(urls[0], 'a'), await sqlite.connect(urls[1], 'b')];
    for (const c of [a, b]) await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    expect((await runCli(['generate'], { cwd: dir })).code).toBe(0);
    expect((await runCli(['apply'], { cwd: dir })).code).toBe(0);

    await a.exec("INSERT INTO sales_order VALUES ('r0', 'one pass')");
    const pass = await runCli(['transport', '--program', '1000'], { cwd: dir });
    expect(pass.stdout, pass.stderr).toMatch(/program 1000: published 1 change\(s\) to NATS, delivered 1 message\(s\), 1 into the inbox/);
    expect((await runCli(['import', '--program', '1001'], { cwd: dir })).code).toBe(0);
    expect((await b.query("SELECT description FROM sales_order WHERE order_id = 'r0'")).rows).toEqual([{ description: 'one pass' }]);

    const daemons = ['a', 'b'].map((node) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'dsync.js'), 'run', '--node', node, '--port', '0'], { cwd: dir });
      const out = { text: '' };
      child.stdout.on('data', (d) => (out.text += d));
      child.stderr.on('data', (d) => (out.text += d));
      return { child, out, exited: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
    });
    try {
      await a.exec("INSERT INTO sales_order VALUES ('r1', 'from a')");
      await b.exec("INSERT INTO sales_order VALUES ('r2', 'from b')");
      let rows: unknown[][] = [[], []];
      for (let i = 0; i < 300 && (rows[0].length < 3 || rows[1].length < 3); i++) {
        await new Promise((r) => setTimeout(r, 100));
        rows = [(await a.query('SELECT order_id FROM sales_order')).rows, (await b.query('SELECT order_id FROM sales_order')).rows];
      }
      expect(
        rows.map((r) => r.length),
        daemons.map((d) => d.out.text).join('\n---\n'),
      ).toEqual([3, 3]);
      expect(daemons[0].out.text).toMatch(/dsync run: 3 program\(s\) at node a/);
    } finally {
      for (const d of daemons) d.child.kill('SIGTERM');
    }
    for (const d of daemons) expect(await d.exited).toBe(0);
    await a.close();
    await b.close();
  });
});
