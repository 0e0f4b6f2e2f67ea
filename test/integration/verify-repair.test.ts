/**
 * `dsync verify --repair` through the CLI binary, on each pair of live brands: planted
 * differences at b (a changed value, a missing row, an extra row, a value set to NULL, a
 * key with a trailing space and a key differing only in case) are named by key and
 * column with exit 1; `--repair --dry-run` lists and changes nothing; `--repair` makes b
 * equal as b's own changes (in its outbox, forwarded), and verify then exits 0, also
 * after the repairs have travelled back to a.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import type { TableSchema } from '../../src/core/schema.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { runCli } from '../helpers/cli.ts';
import { writeConfigFile } from '../helpers/config-file.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['mysql', 'postgres'],
    ['sqlite', 'mysql'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const order = (id: string, i: number): ValueMap => ({
  order_id: id,
  order_type: 'retail',
  description: `order ${i}`,
  product_type_name: 'desktop',
  customer_id: `c${i}`,
  quantity: i,
  order_date: '2025-05-25',
  update_datetime: null,
  updated_by_user: null,
  updated_by_server: null,
});

/** A write at b that nothing captures: a difference made behind dsync's back. */
async function behindTheBack(client: DbClient, fn: (tx: DbClient) => Promise<unknown>): Promise<void> {
  await client.transaction(async (tx) => {
    await tx.dialect.silenceCapture(tx, true);
    await fn(tx);
    await tx.dialect.silenceCapture(tx, false);
  });
}

describe.each(PAIRS)('verify --repair %s → %s', (from, to) => {
  let pair: SyncPair;
  const dir = mkdtempSync(join(tmpdir(), 'dsync-repair-'));
  afterAll(async () => {
    await pair?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names planted differences, repairs them through b’s change path, then is equal', async () => {
    pair = await createSyncPair(from, to);
    const [ta, tb]: TableSchema[] = [pair.tables.a.sales_order, pair.tables.b.sales_order];
    for (let i = 0; i < 30; i++) await insertRow(pair.a.client, ta, order(`r${String(i).padStart(2, '0')}`, i));
    await insertRow(pair.a.client, ta, order('ts', 100));
    await insertRow(pair.a.client, ta, order('Case', 101));
    await pair.forward();
    await behindTheBack(pair.b.client, async (tx) => {
      await updateRow(tx, tb, { order_id: 'r01' }, { quantity: 999 });
      await deleteRow(tx, tb, { order_id: 'r02' });
      await insertRow(tx, tb, order('x99', 99));
      await updateRow(tx, tb, { order_id: 'r03' }, { description: null });
      await deleteRow(tx, tb, { order_id: 'ts' });
      await insertRow(tx, tb, order('ts ', 100));
      await deleteRow(tx, tb, { order_id: 'Case' });
      await insertRow(tx, tb, order('CASE', 101));
    });
    const outboxBefore = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_outbox');
    const config = writeConfigFile(pair.config, dir);
    const verify = (...extra: string[]) => runCli(['--config', config, 'verify', 'a', 'b', '--table', 'sales_order', ...extra]);

    const found = await verify();
    expect(found.code).toBe(1);
    for (const line of [
      '"r01"  changed: quantity',
      '"r02"  missing on b',
      '"x99"  only on b',
      '"r03"  changed: description',
      '"ts"  missing on b',
      '"ts "  only on b',
      '"Case"  missing on b',
      '"CASE"  only on b',
    ]) {
      expect(found.stdout).toContain(line);
    }

    const json = await verify('--json');
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).tables[0].result.differenceCount).toBe(8);

    const dry = await verify('--repair', '--dry-run');
    expect(dry.code).toBe(1);
    expect(dry.stdout).toContain('would delete "x99"');
    expect(dry.stdout).toContain('would update "r01" set quantity');
    expect(dry.stdout).toContain('would insert "r02"');
    expect((await verify()).code).toBe(1);

    const repaired = await verify('--repair');
    expect(repaired.stdout).toContain('repaired 8 row(s)');
    expect(repaired.code).toBe(0);
    expect((await verify()).code).toBe(0);
    // The repairs are b's own changes: captured, versioned, on their way to a.
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_outbox')).toBeGreaterThanOrEqual(outboxBefore + 8);
    await pair.syncAll();
    const after = await verify();
    expect(after.stdout).toContain('equal');
    expect(after.code).toBe(0);
  });
});
