/**
 * The application capture path: an app writes its own change into the outbox inside
 * its transaction with captureChange; the change travels like a trigger's. A change
 * the app describes wrongly fails in the app, not later at the target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppChange, captureChange, captureChanges } from '../../src/index.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import { ChangeError } from '../../src/core/errors.ts';
import { selectRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { random } from '../helpers/random.ts';
import { lastOutboxId, type OutboxRow, outboxRows } from '../helpers/sync-node.ts';

const live = await liveDialects();
const sources = (['postgres', 'sqlite'] as const).filter((d) => live.includes(d));

describe.each(sources)('captureChange on %s', (from) => {
  let pair: SyncPair;
  const node = { name: 'a', serverId: 'server-a' };
  beforeAll(async () => {
    pair = await createSyncPair(from, from === 'postgres' && live.includes('sqlite') ? 'sqlite' : 'postgres');
  });
  afterAll(async () => pair?.close());

  it('writes the same row a trigger would, inside the caller transaction, and it arrives', async () => {
    const before = await lastOutboxId(pair.a.client);
    await pair.a.client.transaction(async (tx) => {
      await captureChange(
        tx,
        {
          table: 'order_line',
          operation: 'I',
          key: { order_id: 'app', line_no: 1 },
          values: { order_id: 'app', line_no: 1, product: "it's ~", amount: 12.5 },
          userId: 'app-user',
        },
        { node },
      );
    });
    const [row] = await outboxRows(pair.a.client, before);
    expect(row).toMatchObject({
      op: 'I',
      table: 'order_line',
      key: { order_id: 'app', line_no: 1 },
      values: { order_id: 'app', line_no: 1, product: "it's ~", amount: '12.5' },
      server: 'server-a',
      user: 'app-user',
    });
    await captureChange(
      pair.a.client,
      {
        table: 'order_line',
        operation: 'U',
        key: { order_id: 'app', line_no: 1 },
        values: { product: 'new' },
        oldValues: { product: "it's ~" },
      },
      { node },
    );
    await pair.forward();
    expect(await selectRow(pair.b.client, pair.tables.b.order_line, { order_id: 'app', line_no: 1 })).toMatchObject({ product: 'new' });
  });

  it('a rolled-back transaction leaves no change behind', async () => {
    const before = await lastOutboxId(pair.a.client);
    await pair.a.client
      .transaction(async (tx) => {
        await captureChange(
          tx,
          { table: 'order_line', operation: 'D', key: { order_id: 'app', line_no: 1 }, oldValues: { order_id: 'app', line_no: 1 } },
          { node },
        );
        throw new Error('the app changes its mind');
      })
      .catch(() => undefined);
    expect(await outboxRows(pair.a.client, before)).toEqual([]);
  });

  it('on a send-only node writes the same rows without versions, and no version entry (docs/convergence.md#send-only-nodes)', async () => {
    const rnd = random(4242);
    const changes: AppChange[] = [];
    for (let i = 0; i < 40; i++) {
      const key = { order_id: `so${Math.floor(rnd() * 5)}`, line_no: 1 };
      const roll = rnd();
      if (roll < 0.4) changes.push({ table: 'order_line', operation: 'I', key, values: { ...key, product: `p${i}`, amount: i } });
      else if (roll < 0.8)
        changes.push({ table: 'order_line', operation: 'U', key, values: { product: `u${i}` }, oldValues: { product: `p${i}` } });
      else if (roll < 0.9)
        changes.push({
          table: 'order_line',
          operation: 'U',
          key: { ...key, line_no: 2 },
          keyOld: key,
          values: { ...key, line_no: 2, product: `k${i}`, amount: 1 },
          oldValues: { line_no: 1 },
        });
      else changes.push({ table: 'order_line', operation: 'D', key, oldValues: { ...key, product: `p${i}` } });
    }
    const write = async (sendOnly: boolean) => {
      const before = await lastOutboxId(pair.a.client);
      const entries = await countOf(pair.a.client, 'SELECT count(*) AS n FROM ds_row_version');
      await pair.a.client.transaction((tx) => captureChanges(tx, changes, { node: { ...node, sendOnly } }));
      return {
        rows: await outboxRows(pair.a.client, before),
        entries: (await countOf(pair.a.client, 'SELECT count(*) AS n FROM ds_row_version')) - entries,
      };
    };
    const kept = await write(false);
    const sent = await write(true);
    expect(kept.entries).toBeGreaterThan(0);
    expect(sent.entries).toBe(0);
    expect(sent.rows.every((r) => r.rowCl === null && r.rowClOld === null && r.changeVersion === null)).toBe(true);
    expect(kept.rows.every((r) => r.rowCl !== null && r.changeVersion !== null)).toBe(true);
    const apart = (r: OutboxRow) => ({ ...r, id: 0, time: null, rowCl: null, rowClOld: null, changeVersion: null });
    expect(sent.rows.map(apart)).toEqual(kept.rows.map(apart));
  });

  it('rejects an unknown column, a missing key and a bad value with a clear error', async () => {
    const bad = [
      [
        { table: 'order_line', operation: 'U', key: { order_id: 'app', line_no: 1 }, values: { nope: 1 } },
        /nope is not a column of order_line/,
      ],
      [
        { table: 'order_line', operation: 'U', key: { order_id: 'app' }, values: { product: 'x' } },
        /lacks primary-key column\(s\) line_no/,
      ],
      [
        { table: 'order_line', operation: 'U', key: { order_id: 'app', line_no: 'one' }, values: { product: 'x' } },
        /line_no \(integer\): "one" is not an integer/,
      ],
      [{ table: 'order_line', operation: 'I', key: { order_id: 'app', line_no: 1 } }, /needs values/],
      [
        { table: 'order_line', operation: 'X', key: { order_id: 'app', line_no: 1 }, values: { product: 'x' } },
        /order_line \{"order_id":"app","line_no":1\}: operation must be 'I', 'U' or 'D', not "X"/,
      ],
    ] as const;
    for (const [change, message] of bad) {
      const error = await captureChange(pair.a.client, change as never, { node }).catch((e) => e);
      expect(error).toBeInstanceOf(ChangeError);
      expect(error.message).toMatch(message);
    }
  });
});

async function countOf(client: DbClient, sql: string): Promise<number> {
  const { rows } = await client.query<Row>(sql);
  return Number(rows[0].n);
}
