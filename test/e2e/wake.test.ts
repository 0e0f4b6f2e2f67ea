import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DialectName } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { runCli, spawnDaemon } from '../helpers/cli.ts';
import { createTestDatabase, liveDialects, type TestDatabase } from '../helpers/databases.ts';

const live = await liveDialects();
const dir = mkdtempSync(join(tmpdir(), 'dsync-wake-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe.each((['postgres', 'sqlite', 'mysql'] as DialectName[]).filter((d) => live.includes(d)))('wake on change, %s', (dialect) => {
  it('a change arrives within seconds although every program sleeps 60 s', async () => {
    const dbs: TestDatabase[] = [await createTestDatabase(dialect, 'dsync_wa'), await createTestDatabase(dialect, 'dsync_wb')];
    const config = join(dir, `${dialect}.json`);
    writeFileSync(
      config,
      JSON.stringify({
        nodes: { a: { dialect, url: dbs[0].url, serverId: 's-a' }, b: { dialect, url: dbs[1].url, serverId: 's-b' } },
        tables: ['sales_order'],
        links: [{ between: ['a', 'b'], intervalSeconds: 60 }],
        generatedDir: join(dir, `gen-${dialect}`),
      }),
    );
    const d = await getDialect(dialect);
    const [a, b] = [await d.connect(dbs[0].url, 'a'), await d.connect(dbs[1].url, 'b')];
    for (const c of [a, b]) await c.exec('CREATE TABLE sales_order (order_id VARCHAR(20) PRIMARY KEY NOT NULL, description VARCHAR(200))');
    expect((await runCli(['--config', config, 'generate'])).code).toBe(0);
    expect((await runCli(['--config', config, 'apply'])).code).toBe(0);
    const daemon = spawnDaemon(['--config', config, 'run', '--port', '0'], dir);
    try {
      await daemon.address();
      // Every loop has run its first pass and gone to sleep for 60 s.
      await new Promise((r) => setTimeout(r, 2000));
      await a.exec("INSERT INTO sales_order VALUES ('w1', 'woken')");
      const started = Date.now();
      let found = 0;
      while (found === 0 && Date.now() - started < 20_000) {
        await new Promise((r) => setTimeout(r, 50));
        found = (await b.query("SELECT order_id FROM sales_order WHERE order_id = 'w1'")).rows.length;
      }
      expect(found, `daemon output:\n${daemon.output()}`).toBe(1);
    } finally {
      expect(await daemon.stop()).toBe(0);
      await a.close();
      await b.close();
      for (const db of dbs) await db.drop();
    }
  }, 90_000);
});
