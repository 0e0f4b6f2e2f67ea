/**
 * The runtime's guarantees, each tried against real databases: hostile seed-format
 * rows are parked and never run (rules 6, 7), resending is a no-op (rule 3), values
 * that need quoting arrive unchanged both ways, a failing change blocks only its own
 * row until retry/skip (rule 6), changes do not echo back (rule 4).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, selectAllRows, selectRow, updateRow } from '../../src/runtime/import/dml.ts';
import { listParked } from '../../src/runtime/import/parking.ts';
import { resolveParkedChange } from '../../src/runtime/import/resolve-parked.ts';
import { liveDialects } from '../helpers/databases.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'postgres'],
    ['postgres', 'postgres'],
    ['postgres', 'mysql'],
    ['mysql', 'postgres'],
    ['mysql', 'sqlite'],
  ] as Array<[DialectName, DialectName]>
).filter(([a, b]) => live.includes(a) && live.includes(b));

const order = (id: string, extra: ValueMap = {}): ValueMap => ({
  order_id: id,
  order_type: 'wholesale',
  description: 'd',
  product_type_name: 'desktop',
  customer_id: 'c1',
  quantity: 1,
  order_date: '2025-05-25',
  update_datetime: '2025-06-25T10:30:00.000000',
  updated_by_user: 'mtp',
  updated_by_server: 'server1',
  ...extra,
});

/** Writes a seed-format row by hand into a node's outbox (as an application or a DBA would). */
async function handWrittenRow(pair: SyncPair, operation: string, objectId: string, command: string, table = 'sales_order') {
  const { client } = pair.a;
  const p = client.dialect.sql.param;
  await client.query(
    `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_operation, object_operation_command, updated_by_server_id)
     VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)})`,
    ['a', table, 'order_id', objectId, operation, command, 'server-a'],
  );
}

describe.each(PAIRS)('runtime %s → %s', (from, to) => {
  let pair: SyncPair;
  const t = () => pair.tables;

  beforeAll(async () => {
    pair = await createSyncPair(from, to);
  });
  afterAll(async () => pair?.close());

  it('moves values that need quoting unchanged, both ways, NULL included', async () => {
    const nasty = ["it's", '~~tilde~~', 'back\\slash \\n', 'ünïcødé ☃', 'emoji 😀👍🏽', '', '  trailing  ', null];
    for (const [i, text] of nasty.entries()) await insertRow(pair.a.client, t().a.sales_order, order(`q${i}`, { description: text }));
    await pair.forward();
    const arrived = await selectAllRows(pair.b.client, t().b.sales_order);
    expect(arrived.filter((r) => String(r.order_id).startsWith('q')).map((r) => r.description)).toEqual(nasty);
    for (const [i, text] of nasty.entries())
      await updateRow(pair.b.client, t().b.sales_order, { order_id: `q${i}` }, { customer_id: text });
    await pair.backward();
    const back = await selectAllRows(pair.a.client, t().a.sales_order);
    expect(back.filter((r) => String(r.order_id).startsWith('q')).map((r) => r.customer_id)).toEqual(nasty);
  });

  it('does not send a change back to where it came from', async () => {
    await pair.syncAll();
    const before = await pair.count(pair.a.client, 'SELECT count(*) FROM ds_change_inbox');
    await insertRow(pair.a.client, t().a.sales_order, order('echo'));
    const report = await pair.syncAll();
    expect(report.transports.filter((r) => r.program === 1002).reduce((n, r) => n + r.skippedEcho, 0)).toBeGreaterThanOrEqual(1);
    expect(await pair.count(pair.a.client, 'SELECT count(*) FROM ds_change_inbox')).toBe(before);
    // b recorded the applied change with its true origin
    const { rows } = await pair.b.client.query<Row>('SELECT updated_by_server_id FROM ds_change_outbox WHERE object_id = \'"echo"\'');
    expect(rows.map((r) => r.updated_by_server_id)).toEqual(['server-a']);
  });

  it('parks hostile seed-format rows, never runs them, and keeps other rows flowing', async () => {
    await insertRow(pair.a.client, t().a.sales_order, order('h1'));
    await pair.forward();
    const hostile = [
      'delete from sales_order where order_id=~h1~; drop table sales_order',
      'delete from ds_program_parameter where id=~1000~',
      'UPDATE sales_order set description=(select ~x~) where order_id=~h1~',
      'UPDATE sales_order set description=lower(~x~) where order_id=~h1~',
      'delete from sales_order where order_id=~h1~ or 1=1',
      'UPDATE sales_order set description=~x~ where customer_id=~c1~',
      'drop table sales_order',
      'INSERT INTO sales_order(order_id, nope) VALUES (~h1~, ~x~)',
    ];
    for (const command of hostile)
      await handWrittenRow(pair, command.startsWith('INSERT') ? 'I' : command.startsWith('UPDATE') ? 'U' : 'D', 'h1', command);
    await insertRow(pair.a.client, t().a.sales_order, order('h2'));
    await pair.forward();
    const rows = await selectAllRows(pair.b.client, t().b.sales_order);
    expect(rows.find((r) => r.order_id === 'h1')).toMatchObject({ description: 'd', customer_id: 'c1' });
    expect(rows.find((r) => r.order_id === 'h2')).toBeTruthy();
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_program_parameter')).toBeGreaterThan(0);
    const parked = await listParked(pair.b.client);
    expect(parked.filter((p) => p.status === 'open')).toHaveLength(1);
    expect(parked.filter((p) => p.status === 'waiting')).toHaveLength(hostile.length - 1);
    expect(parked[0].reason).toMatch(/2 statements/);
    // Skipping releases the next; each hostile one is then rejected on its own merits.
    let head = parked[0].id;
    const reasons = [parked[0].reason];
    for (let i = 1; i < hostile.length; i++) {
      const result = await resolveParkedChange(pair.config, pair.b, head, 'skip');
      expect(result.newlyParked).not.toBeNull();
      head = result.newlyParked!;
      reasons.push((await listParked(pair.b.client)).find((p) => p.id === head)!.reason);
    }
    expect(reasons.slice(1)).toEqual([
      expect.stringMatching(/changes ds_program_parameter, but the row is for sales_order/),
      expect.stringMatching(/must be a literal value/),
      expect.stringMatching(/must be a literal value/),
      expect.stringMatching(/compare primary-key columns with literals/),
      expect.stringMatching(/exactly the primary key/),
      expect.stringMatching(/DROP is not accepted|not valid SQL/),
      expect.stringMatching(/nope is not a synchronized column/),
    ]);
    await resolveParkedChange(pair.config, pair.b, head, 'skip');
    expect(await listParked(pair.b.client)).toEqual([]);
    // The row was never touched, and a legitimate change to it now arrives.
    await updateRow(pair.a.client, t().a.sales_order, { order_id: 'h1' }, { description: 'legit' });
    await pair.forward();
    expect(await selectRow(pair.b.client, t().b.sales_order, { order_id: 'h1' })).toMatchObject({ description: 'legit' });
  });

  it('parks a change the target cannot hold, holds back its row only, and retry applies both', async () => {
    await insertRow(pair.a.client, t().a.order_line, { order_id: 'p', line_no: 1, product: 'x', amount: '1.00' });
    await pair.forward();
    // order_line.product is NOT NULL at the target: make the change fail there by sending NULL through a hand-made row.
    const p = pair.a.client.dialect.sql.param;
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_value, object_value_old, object_attribute, object_operation, updated_by_server_id)
       VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}, ${p(6)}, ${p(7)}, 'U', 'server-a')`,
      ['a', 'order_line', 'order_id,line_no', '{"order_id":"p","line_no":1}', '{"product":null}', '{"product":"x"}', 'product'],
    );
    await updateRow(pair.a.client, t().a.order_line, { order_id: 'p', line_no: 1 }, { amount: '2.50' });
    await insertRow(pair.a.client, t().a.order_line, { order_id: 'p', line_no: 2, product: 'y', amount: null });
    await pair.forward();
    const parked = await listParked(pair.b.client);
    expect(parked.map((x) => x.status)).toEqual(['open', 'waiting']);
    expect(parked[0].reason).toMatch(/product|null/i);
    expect(await selectRow(pair.b.client, t().b.order_line, { order_id: 'p', line_no: 1 })).toMatchObject({ product: 'x', amount: '1.00' });
    expect(await selectRow(pair.b.client, t().b.order_line, { order_id: 'p', line_no: 2 })).toMatchObject({ product: 'y' });
    await expect(resolveParkedChange(pair.config, pair.b, parked[0].id, 'retry')).rejects.toThrow(/failed again/);
    const result = await resolveParkedChange(pair.config, pair.b, parked[0].id, 'skip');
    expect(result.released).toBe(1);
    expect(await selectRow(pair.b.client, t().b.order_line, { order_id: 'p', line_no: 1 })).toMatchObject({ product: 'x' });
    const amount = (await selectRow(pair.b.client, t().b.order_line, { order_id: 'p', line_no: 1 }))!.amount;
    expect(Number(amount)).toBe(2.5);
  });

  it('resending (transport pointer reset) changes nothing at the target', async () => {
    await pair.syncAll();
    const rowsBefore = await selectAllRows(pair.b.client, t().b.sales_order);
    const inboxBefore = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox');
    await pair.a.client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
    await pair.forward();
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_inbox')).toBe(inboxBefore);
    expect(await selectAllRows(pair.b.client, t().b.sales_order)).toEqual(rowsBefore);
  });

  it('merges updates of different columns of one row made on both sides without a conflict', async () => {
    await insertRow(pair.a.client, t().a.sales_order, order('m1'));
    await pair.syncAll();
    await updateRow(pair.a.client, t().a.sales_order, { order_id: 'm1' }, { description: 'from a' });
    await updateRow(pair.b.client, t().b.sales_order, { order_id: 'm1' }, { quantity: 42 });
    const conflictsBefore = await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_conflict');
    await pair.syncAll();
    for (const side of [pair.a, pair.b]) {
      expect(await selectRow(side.client, (side === pair.a ? t().a : t().b).sales_order, { order_id: 'm1' })).toMatchObject({
        description: 'from a',
        quantity: 42,
      });
    }
    expect(await pair.count(pair.b.client, 'SELECT count(*) FROM ds_change_conflict')).toBe(conflictsBefore);
  });

  it('converges when both sides change the same column (latest wins), recording the conflict', async () => {
    await insertRow(pair.a.client, t().a.sales_order, order('m2'));
    await pair.syncAll();
    await updateRow(pair.a.client, t().a.sales_order, { order_id: 'm2' }, { description: 'older, from a' });
    await new Promise((r) => setTimeout(r, 20));
    await updateRow(pair.b.client, t().b.sales_order, { order_id: 'm2' }, { description: 'newer, from b' });
    await pair.syncAll();
    const onA = await selectRow(pair.a.client, t().a.sales_order, { order_id: 'm2' });
    const onB = await selectRow(pair.b.client, t().b.sales_order, { order_id: 'm2' });
    expect(onA).toEqual(onB);
    expect(onA).toMatchObject({ description: 'newer, from b' });
    const conflicts = await pair.b.client.query<Row>(
      "SELECT kind, columns, resolution FROM ds_change_conflict WHERE object_key LIKE '%m2%'",
    );
    expect(conflicts.rows).toEqual([{ kind: 'update_changed', columns: 'description', resolution: 'kept' }]);
  });

  it('deletes and key changes travel', async () => {
    await insertRow(pair.a.client, t().a.sales_order, order('k1'));
    await pair.forward();
    await updateRow(pair.a.client, t().a.sales_order, { order_id: 'k1' }, { order_id: 'k2' });
    await pair.forward();
    expect(await selectRow(pair.b.client, t().b.sales_order, { order_id: 'k1' })).toBeNull();
    expect(await selectRow(pair.b.client, t().b.sales_order, { order_id: 'k2' })).toMatchObject({ description: 'd' });
    await deleteRow(pair.a.client, t().a.sales_order, { order_id: 'k2' });
    await pair.forward();
    expect(await selectRow(pair.b.client, t().b.sales_order, { order_id: 'k2' })).toBeNull();
  });

  it('picks up a column added while the runtime kept its connections, instead of parking the change', async () => {
    await pair.forward(); // the import has now kept b's schema
    for (const side of [pair.a, pair.b]) await side.client.exec('ALTER TABLE sales_order ADD COLUMN late_note varchar(50)');
    const p = pair.a.client.dialect.sql.param;
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (object_database, object_table, object_pk_attribute, object_id, object_value, object_attribute, object_operation, updated_by_server_id)
       VALUES ('a', 'sales_order', 'order_id', ${p(1)}, ${p(2)}, 'order_id,late_note', 'I', 'server-a')`,
      ['"late"', '{"order_id":"late","late_note":"added later"}'],
    );
    await pair.forward();
    expect(await listParked(pair.b.client)).toEqual([]);
    const table = await pair.b.dialect.introspect(pair.b.client, 'sales_order');
    expect(await selectRow(pair.b.client, table, { order_id: 'late' })).toMatchObject({ late_note: 'added later' });
  });
});
