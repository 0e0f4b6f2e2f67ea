/**
 * Capture mode api against trigger mode: one seeded random workload of inserts, updates,
 * deletes and key changes on sales_order and order_line, run twice — once on a source
 * whose triggers capture it, once on a source in mode api where the application writes
 * each change through captureChange in the same transaction as its row write — with
 * transport + import at the same random points. The target ends with the same rows both
 * times (and the source's), and in mode api the outbox holds exactly one row per change.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { DialectName } from '../../src/core/dialect.ts';
import { captureChange } from '../../src/index.ts';
import { selectAllRows } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { workload, writeRow } from '../helpers/workload.ts';

const live = await liveDialects();
const SEED = Number(process.env.DSYNC_SEED ?? 20261130);
const OPS = 120;
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['mysql', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

describe.each(PAIRS)('a random workload in capture mode api and in trigger mode, %s → %s', (from, to) => {
  const pairs: SyncPair[] = [];
  afterAll(async () => {
    for (const pair of pairs) await pair.close();
  });

  const run = async (mode: 'trigger' | 'api') => {
    const pair = await createSyncPair(from, to, 'latest-wins', mode === 'api' ? { apiTables: ['sales_order', 'order_line'] } : {});
    pairs.push(pair);
    const node = { name: 'a', serverId: 'server-a' };
    let changes = 0;
    for (const step of workload(SEED, OPS)) {
      if (step === 'sync') {
        await pair.forward();
        continue;
      }
      changes++;
      await pair.a.client.transaction(async (tx) => {
        await writeRow(tx, step);
        if (mode === 'api') await captureChange(tx, { ...step }, { node });
      });
    }
    await pair.forward();
    const outbox = await pair.count(pair.a.client, 'SELECT count(*) FROM ds_change_outbox');
    const errors = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_error');
    const rows = async (side: 'a' | 'b') => {
      const client = side === 'a' ? pair.a.client : pair.b.client;
      return {
        sales_order: await selectAllRows(client, pair.tables[side].sales_order),
        order_line: await selectAllRows(client, pair.tables[side].order_line),
      };
    };
    return { changes, outbox, errors, source: await rows('a'), target: await rows('b') };
  };

  it(`seed ${SEED}: the same rows at the target, each change captured once`, async () => {
    const byTrigger = await run('trigger');
    const byApi = await run('api');
    expect(byApi.errors).toBe(0);
    expect(byTrigger.errors).toBe(0);
    expect(byApi.outbox).toBe(byApi.changes);
    expect(byTrigger.outbox).toBe(byTrigger.changes);
    expect(byApi.source).toEqual(byTrigger.source);
    expect(byApi.target).toEqual(byTrigger.target);
    expect(byApi.target).toEqual(byApi.source);
    expect(byApi.target.sales_order.length + byApi.target.order_line.length).toBeGreaterThan(0);
  });
});
