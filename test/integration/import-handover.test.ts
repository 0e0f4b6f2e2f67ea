/**
 * A transport of the daemon hands the inbox rows it just inserted to the import it wakes
 * (transportOnce's MovedBatch, importOnce's `handed`): the import starts from them instead of
 * reading the horizon and the batch. They may be used only when they are every id right after
 * the import's pointer; here a lower id still being written by another session, a pointer moved
 * by another importer, a hole in the ids and a ledger that moved (`dsync apply`) try to break it.
 * The import may also begin its batch from the rows the transport is sending (SendingBatch,
 * importOnce's `sending`) before the write returns: rows foreseen with another value, ids the
 * write did not give them, and a write that failed try to break that.
 * Needs a PostgreSQL server (concurrent sessions; PostgreSQL returns the inserted rows).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/core/dialect.ts';
import { handedBatch, type ImportResult, importOnce, ledgerStamp, sendingBatch } from '../../src/runtime/import/import.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { INBOX_COLUMNS, type SendingBatch, transportOnce } from '../../src/runtime/transport/transport.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { createSyncPair, extraSessions, type SyncPair } from '../helpers/sync-pair.ts';

const server = (await liveDialects()).includes('postgres') && (await postgresMode()) === 'server';

describe('unit: handedBatch', () => {
  const rows = (...ids: number[]) => ids.map((id) => ({ id: String(id) }));
  it('takes rows that are every id after the pointer, in id order', () => {
    expect(handedBatch(rows(12, 11), 10, 50)?.map((r) => r.id)).toEqual(['11', '12']);
  });
  it('refuses a hole, a start past the pointer, rows behind it, too many, or none', () => {
    expect(handedBatch(rows(11, 13), 10, 50)).toBeNull();
    expect(handedBatch(rows(12), 10, 50)).toBeNull();
    expect(handedBatch(rows(10, 11), 10, 50)).toBeNull();
    expect(handedBatch(rows(11, 12), 10, 1)).toBeNull();
    expect(handedBatch([], 10, 50)).toBeNull();
    expect(handedBatch(undefined, 10, 50)).toBeNull();
  });
});

describe('unit: sendingBatch', () => {
  const sending = (n: number): SendingBatch => ({
    rows: Array.from({ length: n }, (_, i) => ({ object_id: `k${i}` })),
    inserted: Promise.resolve(undefined),
  });
  it('numbers the rows being sent from the pointer on, in their order', () => {
    expect(sendingBatch(sending(2), 10, 50)).toEqual([
      { object_id: 'k0', id: '11' },
      { object_id: 'k1', id: '12' },
    ]);
  });
  it('refuses none, or more than a batch', () => {
    expect(sendingBatch(sending(0), 10, 50)).toBeNull();
    expect(sendingBatch(sending(3), 10, 2)).toBeNull();
    expect(sendingBatch(undefined, 10, 50)).toBeNull();
  });
});

describe.skipIf(!server)('rows handed from the transport to the import, postgres → postgres', () => {
  let pair: SyncPair;
  let other: NodeSet;
  const sessions = extraSessions(() => pair.b.dialect.connect(pair.b.node.url, 'b'));
  const program = (id: number) => pair.config.programs.find((p) => p.id === id)!;
  /** One transport pass a → b; the rows it handed over (null: none). */
  const transport = async (): Promise<Row[] | null> => {
    let handed: Row[] | null = null;
    await transportOnce(program(1000), await pair.nodes.get('a'), await pair.nodes.get('b'), ({ rows }) => {
      if (rows?.length) handed = [...(handed ?? []), ...rows];
    });
    return handed;
  };
  const importB = async (handed?: Row[] | null, sending?: SendingBatch) =>
    importOnce(pair.config, program(1001), await pair.nodes.get('b'), handed ?? undefined, sending) as Promise<ImportResult>;
  /** One transport pass a → b that tells what it sends (onSending) and calls `sent` with it at once, before its write returns. */
  const transportSending = async (sent: (batch: SendingBatch) => void = () => undefined): Promise<SendingBatch[]> => {
    const batches: SendingBatch[] = [];
    await transportOnce(
      program(1000),
      await pair.nodes.get('a'),
      await pair.nodes.get('b'),
      () => undefined,
      (batch) => {
        batches.push(batch);
        sent(batch);
      },
    );
    return batches;
  };
  const quantity = (id: string) => pair.count(pair.b.client, `SELECT quantity FROM sales_order WHERE order_id = '${id}'`);

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
    other = new NodeSet(pair.config);
  });
  afterAll(async () => {
    await sessions.closeAll();
    await other?.closeAll();
    await pair?.close();
  });

  it('the rows handed over are what the import applies, without reading them', async () => {
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('hand-0', 1)");
    await importB(await transport()); // the import's schema is read and kept
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('hand-1', 7)");
    const handed = await transport();
    expect(handed).toHaveLength(1);
    // Gone from the inbox: only rows handed over can bring it.
    await pair.b.client.exec(`DELETE FROM ds_change_inbox WHERE id = ${Number(handed![0].id)}`);
    const result = await importB(handed);
    expect(result.applied).toBe(1);
    expect(result.pointer).toBe(Number(handed![0].id));
    expect(await quantity('hand-1')).toBe(7);
  }, 60_000);

  it('rows handed over behind a lower id that another writer still holds wait for it', async () => {
    const before = await importB();
    const pointer = before.pointer;
    // Another writer takes the next inbox id and commits after the transport (a second transport).
    const w = await sessions.session();
    await w.exec('BEGIN');
    const copied = INBOX_COLUMNS.map((c) =>
      c === 'object_id' || c === 'object_value'
        ? `replace(${c}, 'hand-0', 'late')`
        : c === 'updated_by_server_id'
          ? "'server-c'"
          : c === 'origin_change_id'
            ? '1'
            : c,
    );
    await w.exec(
      `INSERT INTO ds_change_inbox (${INBOX_COLUMNS.join(', ')}) SELECT ${copied.join(', ')} FROM ds_change_inbox WHERE object_id LIKE '%hand-0%'`,
    );
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('hand-2', 2)");
    const handed = await transport();
    expect(handed!.map((r) => Number(r.id))).toEqual([pointer + 2]);
    const held = await importB(handed);
    expect({ applied: held.applied, pointer: held.pointer }).toEqual({ applied: 0, pointer });
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE order_id IN ('late', 'hand-2')")).toBe(0);
    await w.exec('COMMIT');
    const after = await importB();
    expect({ applied: after.applied, pointer: after.pointer }).toEqual({ applied: 2, pointer: pointer + 2 });
    expect(await quantity('late')).toBe(1);
    expect(await quantity('hand-2')).toBe(2);
  }, 60_000);

  it('rows handed over after another importer applied them are not applied again', async () => {
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('hand-3', 3)");
    const handed = await transport();
    expect(handed).toHaveLength(1);
    // A manual `dsync import` (its own connection) takes the row first: the daemon's kept pointer is behind.
    const first = (await importOnce(pair.config, program(1001), await other.get('b'))) as ImportResult;
    expect(first.applied).toBe(1);
    await pair.b.client.exec("UPDATE sales_order SET quantity = 30 WHERE order_id = 'hand-3'");
    const again = await importB(handed);
    // The compare-and-set refuses the batch; the pass begins again from the stored pointer and finds nothing.
    expect({ applied: again.applied, unchanged: again.unchanged, pointer: again.pointer }).toEqual({
      applied: 0,
      unchanged: 0,
      pointer: first.pointer,
    });
    expect(await quantity('hand-3')).toBe(30);
  }, 60_000);

  it('an import may begin its batch while the inbox write is on its way, and applies what it wrote', async () => {
    await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-1', 5), ('send-2', 6)");
    let begun: Promise<ImportResult> | undefined;
    // The import on its own connection, as under the daemon (the transport's is busy with the write).
    const batches = await transportSending((batch) => {
      begun = other.get('b').then((b) => importOnce(pair.config, program(1001), b, undefined, batch) as Promise<ImportResult>);
    });
    expect(batches).toHaveLength(1);
    const result = await begun!;
    const inserted = (await batches[0].inserted)!;
    expect(result.applied).toBe(2);
    expect(result.pointer).toBe(Math.max(...inserted.map((r) => Number(r.id))));
    expect([await quantity('send-1'), await quantity('send-2')]).toEqual([5, 6]);
  }, 60_000);

  it('rows foreseen that differ from what the write returned are not applied as foreseen', async () => {
    await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-3', 3)");
    const [batch] = await transportSending();
    // What the import would take for the row: the same key and id, another value.
    const bent = { ...batch, rows: batch.rows.map((r) => ({ ...r, object_value: String(r.object_value).replace('3', '333') })) };
    expect(bent.rows[0].object_value).not.toBe(batch.rows[0].object_value);
    const result = await importB(undefined, bent);
    expect(result.applied).toBe(1);
    expect(await quantity('send-3')).toBe(3);
  }, 60_000);

  it('rows foreseen right after the pointer that the write put further on wait for the row before them', async () => {
    const { pointer } = await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-4', 4)");
    await transport(); // into the inbox, not imported: the next row's id is pointer + 2
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-5', 5)");
    const [batch] = await transportSending();
    expect((await batch.inserted)!.map((r) => Number(r.id))).toEqual([pointer + 2]);
    const result = await importB(undefined, batch);
    expect({ applied: result.applied, pointer: result.pointer }).toEqual({ applied: 2, pointer: pointer + 2 });
    expect([await quantity('send-4'), await quantity('send-5')]).toEqual([4, 5]);
  }, 60_000);

  it('a write that never returns holds the import a few seconds at most: it then reads the inbox', async () => {
    await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-8', 8)");
    const [batch] = await transportSending();
    const result = await importB(undefined, { rows: batch.rows, inserted: new Promise(() => undefined) });
    expect(result.applied).toBe(1);
    expect(await quantity('send-8')).toBe(8);
  }, 60_000);

  it('rows being sent that another importer applied first are not applied again', async () => {
    await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-7', 7)");
    const [batch] = await transportSending();
    const first = (await importOnce(pair.config, program(1001), await other.get('b'))) as ImportResult;
    expect(first.applied).toBe(1);
    await pair.b.client.exec("UPDATE sales_order SET quantity = 70 WHERE order_id = 'send-7'");
    const again = await importB(undefined, batch);
    expect({ applied: again.applied, pointer: again.pointer }).toEqual({ applied: 0, pointer: first.pointer });
    expect(await quantity('send-7')).toBe(70);
  }, 60_000);

  it('a write that failed gives nothing to apply: the import reads the inbox as always', async () => {
    const { pointer } = await importB();
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('send-6', 6)");
    const [batch] = await transportSending();
    await pair.b.client.exec(`DELETE FROM ds_change_inbox WHERE id > ${pointer}`);
    const result = await importB(undefined, { rows: batch.rows, inserted: Promise.resolve(undefined) });
    expect(result.applied).toBe(0);
    expect(await pair.count(pair.b.client, "SELECT count(*) FROM sales_order WHERE order_id = 'send-6'")).toBe(0);
  }, 60_000);

  it('a ledger that moved since the tables were read is seen by a pass that starts from rows handed over', async () => {
    const b = await pair.nodes.get('b');
    await importB();
    const kept = b.tablesStamp;
    await pair.b.client.exec(
      "INSERT INTO ds_schema_migrations (file, checksum, applied_at) VALUES ('handover-test.sql', 'x', now() AT TIME ZONE 'UTC' + interval '1 day')",
    );
    const moved = await ledgerStamp(pair.b.client);
    expect(moved).not.toBe(kept);
    await pair.a.client.exec("INSERT INTO sales_order (order_id, quantity) VALUES ('hand-4', 4)");
    const result = await importB(await transport());
    expect(result.applied).toBe(1);
    // The tables were read again with the ledger's new stamp.
    expect(b.tablesStamp).toBe(moved);
    expect(await quantity('hand-4')).toBe(4);
  }, 60_000);
});
