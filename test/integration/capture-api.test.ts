/**
 * The application capture path: an app writes its own change into the outbox inside
 * its transaction with captureChange; the change travels like a trigger's. A change
 * the app describes wrongly fails in the app, not later at the target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureChange } from '../../src/index.ts';
import { ChangeError } from '../../src/core/errors.ts';
import { selectRow } from '../../src/runtime/import/dml.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';
import { lastOutboxId, outboxRows } from '../helpers/sync-node.ts';

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
