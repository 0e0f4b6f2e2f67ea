/**
 * Every writer of a PostgreSQL outbox wakes the daemon's listener. The outbox has no notify
 * trigger since upgrade step 18's release (templates/postgres/upgrade_notify.sql.hbs): the
 * capture functions call pg_notify themselves, and dsync's own writers (the library capture,
 * query and log capture through it, the import's applied record) through postgresBulk.insertRows.
 * A seeded random sequence of writes, each shape of each writer at least once, each in its own
 * committed transaction; after each, the listener (listenPostgres, the daemon's own) must hear
 * the outbox (or, for a transport, the inbox) within seconds. `DSYNC_TEST_SEED=…` replays a run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbClient } from '../../src/core/dialect.ts';
import { listenPostgres } from '../../src/dialects/postgres/postgres-driver.ts';
import { captureChanges } from '../../src/index.ts';
import { capturePass } from '../../src/runtime/capture/capture-pass.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { lastOutboxId } from '../helpers/sync-node.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const SEED = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);

type Heard = 'outbox' | 'inbox';

describe.runIf(live.includes('postgres'))('every outbox writer wakes the listener, postgres', () => {
  let pair: SyncPair;
  const heard: Record<'a' | 'b', Heard[]> = { a: [], b: [] };
  const listeners: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres', 'latest-wins', { queryTables: ['sales_order'] });
    for (const name of ['a', 'b'] as const) {
      listeners.push(await listenPostgres(pair.config.nodes[name].url, name, (table) => heard[name].push(table)));
    }
  }, 60_000);
  afterAll(async () => {
    for (const l of listeners) await l.close();
    await pair?.close();
  });

  /** Runs `write` after the listeners have gone quiet, then waits for `node` to hear `table`. */
  async function wakes(what: string, node: 'a' | 'b', table: Heard, write: () => Promise<void>): Promise<void> {
    await new Promise((r) => setTimeout(r, 150));
    heard.a.length = 0;
    heard.b.length = 0;
    await write();
    const started = Date.now();
    while (!heard[node].includes(table) && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(heard[node].includes(table), `seed ${SEED}: ${what} did not wake a listener of node ${node}'s ${table}`).toBe(true);
  }

  it('the trigger capture, the library, query capture, the import and the transport', async () => {
    const next = random(SEED);
    const pick = (n: number) => Math.floor(next() * n);
    const a = pair.a.client;
    const b = pair.b.client;
    let line = 0;
    let queryRow = 0;
    const lines: number[] = [];
    const tx = (client: DbClient, sql: string) => client.transaction(async (t) => void (await t.query(sql)));
    const newLines = (n: number) => Array.from({ length: n }, () => ++line);
    const values = (ids: number[]) => ids.map((i) => `('w', ${i}, 'p${i}', ${i}.5)`).join(', ');

    const steps: Array<[string, () => Promise<void>]> = [
      [
        'a one-row INSERT (the capture function)',
        async () => {
          const ids = newLines(1);
          lines.push(...ids);
          await wakes('a one-row INSERT', 'a', 'outbox', () => tx(a, `INSERT INTO order_line VALUES ${values(ids)}`));
        },
      ],
      [
        'a multi-row INSERT',
        async () => {
          const ids = newLines(2 + pick(200));
          lines.push(...ids);
          await wakes(`an INSERT of ${ids.length} rows`, 'a', 'outbox', () => tx(a, `INSERT INTO order_line VALUES ${values(ids)}`));
        },
      ],
      [
        'a one-row UPDATE',
        async () => {
          const id = lines[pick(lines.length)];
          await wakes('a one-row UPDATE', 'a', 'outbox', () =>
            tx(a, `UPDATE order_line SET product = 'u${next()}' WHERE order_id = 'w' AND line_no = ${id}`),
          );
        },
      ],
      [
        'a multi-row UPDATE',
        async () => {
          await wakes('a multi-row UPDATE', 'a', 'outbox', () => tx(a, `UPDATE order_line SET amount = amount + 1 WHERE order_id = 'w'`));
        },
      ],
      [
        'an UPDATE that changes a key',
        async () => {
          const i = pick(lines.length);
          const id = lines[i];
          lines[i] = ++line;
          await wakes('a key change', 'a', 'outbox', () =>
            tx(a, `UPDATE order_line SET line_no = ${line} WHERE order_id = 'w' AND line_no = ${id}`),
          );
        },
      ],
      [
        'a DELETE of one or more rows',
        async () => {
          const gone = lines.splice(0, 1 + pick(Math.min(5, lines.length)));
          await wakes(`a DELETE of ${gone.length} rows`, 'a', 'outbox', () =>
            tx(a, `DELETE FROM order_line WHERE order_id = 'w' AND line_no IN (${gone.join(', ')})`),
          );
        },
      ],
      [
        'the library (captureChanges), one statement or COPY',
        async () => {
          // Below 64 rows one INSERT … SELECT, from 64 on COPY (postgres-bulk.ts): both must notify.
          const n = next() < 0.5 ? 1 + pick(3) : 64 + pick(80);
          const ids = Array.from({ length: n }, () => ++line);
          await wakes(`captureChanges of ${n} changes`, 'a', 'outbox', () =>
            a.transaction((t) =>
              captureChanges(
                t,
                ids.map((i) => ({
                  table: 'order_line',
                  operation: 'I' as const,
                  key: { order_id: 'app', line_no: i },
                  values: { order_id: 'app', line_no: i, product: 'lib', amount: 1 },
                })),
                { node: { name: 'a', serverId: 'server-a' } },
              ),
            ),
          );
        },
      ],
      [
        'query capture (a capture pass)',
        async () => {
          const n = 1 + pick(3);
          for (let i = 0; i < n; i++) {
            queryRow++;
            await a.query(
              `INSERT INTO sales_order (order_id, description, update_datetime) VALUES ('q${queryRow}', 'query', TIMESTAMP '2030-01-01 00:00:00' + interval '${queryRow} seconds')`,
            );
          }
          await wakes('a query capture pass', 'a', 'outbox', async () => void (await capturePass(pair.config, pair.nodes, 'a')));
        },
      ],
      [
        "the import's applied record (a forwarding node) and the transport's inbox",
        async () => {
          const key = `f${++line}`;
          await b.query(`INSERT INTO order_line VALUES ('${key}', 1, 'from b', 2.5)`);
          // Transport b→a writes a's inbox; the import at a records what it applied in a's outbox.
          await wakes('the import at a (applied record)', 'a', 'outbox', () => pair.backward());
          expect(heard.a.includes('inbox'), `seed ${SEED}: the transport did not wake a listener of a's inbox`).toBe(true);
        },
      ],
    ];
    // Each shape once in a random order, then a random sequence.
    const order = steps.map((_, i) => i).sort(() => next() - 0.5);
    for (let i = 0; i < 12; i++) order.push(pick(steps.length));
    const before = await lastOutboxId(a);
    lines.push(...newLines(3));
    await tx(a, `INSERT INTO order_line VALUES ${values(lines)}`);
    for (const i of order) {
      if (lines.length === 0 && /UPDATE|DELETE/.test(steps[i][0])) continue;
      await steps[i][1]();
    }
    expect(await lastOutboxId(a)).toBeGreaterThan(before);
  }, 120_000);
});
