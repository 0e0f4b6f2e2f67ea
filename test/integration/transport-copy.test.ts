/**
 * The transport's COPY path, PostgreSQL → PostgreSQL (outbox-copy.ts): outbox rows with odd
 * text written by hand (tabs, line ends, backslashes, the other control characters COPY
 * escapes, non-BMP text, long and missing origins, echoes, times in several spellings) reach
 * the inbox byte for byte as the path that binds values puts them there; a resend over rows
 * already in the inbox adds nothing (the unique origin key, guarantee 3). Seeded: the seed is
 * printed, DSYNC_TEST_SEED repeats a run. Needs a PostgreSQL server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramConfig } from '../../src/config/config.ts';
import type { DbClient, Row } from '../../src/core/dialect.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';
import { forgetPointer } from '../../src/runtime/program-state.ts';
import { INBOX_COLUMNS, transportOnce } from '../../src/runtime/transport/transport.ts';
import { liveDialects, postgresMode } from '../helpers/databases.ts';
import { oddText, random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const server = (await liveDialects()).includes('postgres') && (await postgresMode()) === 'server';

/** The client without copyQueryOut: the transport then reads rows through the driver, as before the COPY path. */
const withoutCopyOut = (client: DbClient): DbClient =>
  new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'copyQueryOut') return undefined;
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });

const text = (next: () => number, max = 16) => oddText(next, max);

describe.skipIf(!server)('transport by COPY, postgres → postgres', () => {
  let pair: SyncPair;
  const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);
  const rows = 300;

  beforeAll(async () => {
    pair = await createSyncPair('postgres', 'postgres');
    console.log(`transport COPY randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
    const next = random(seed);
    const columns = INBOX_COLUMNS;
    const servers = [null, null, 'server-a', 'server-b', 'other', 'tab\there\\and\nline', `${'x'.repeat(60)}😀😀`, '😀'.repeat(40)];
    const times = ['2026-12-01 03:04:05.123456', '2026-12-01 03:04:05.12', '2026-12-01 03:04:05', '1999-02-28 23:59:59.000001', 'infinity'];
    const values: unknown[] = [];
    for (let i = 0; i < rows; i++) {
      const maybe = (v: unknown) => (next() < 0.2 ? null : v);
      values.push(
        maybe(text(next)),
        text(next) || 'sales_order',
        maybe(text(next)),
        maybe(text(next)),
        maybe(text(next, 40)),
        maybe(text(next)),
        maybe(text(next, 200)),
        maybe(text(next, 200)),
        'IUD'[Math.floor(next() * 3)],
        maybe(text(next)),
        servers[Math.floor(next() * servers.length)]?.slice(0, 64) ?? null,
        maybe(text(next, 64)),
        times[Math.floor(next() * times.length)],
        maybe(text(next)),
        maybe(Math.floor(next() * 1e9)),
        maybe(Math.floor(next() * 1e9)),
        maybe(Math.floor(next() * 1e9)),
        next() < 0.5 ? null : 1 + i + Math.floor(next() * 1e12),
      );
    }
    // Longer server ids than the column takes are cut by the slice above; PostgreSQL counts characters, JavaScript UTF-16 units.
    const tuple = (r: number) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`;
    await pair.a.client.query(
      `INSERT INTO ds_change_outbox (${columns.join(', ')}) VALUES ${Array.from({ length: rows }, (_, r) => tuple(r)).join(', ')}`,
      values,
    );
  }, 120_000);

  afterAll(async () => {
    await pair?.close();
  });

  /** Program 1000 with `batchSize`, its pointer back at 0 on `client` (the kept pointer forgotten). */
  const program = async (client: DbClient, batchSize: number): Promise<ProgramConfig> => {
    await client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
    forgetPointer(client, 1000);
    return { ...pair.config.programs.find((p) => p.id === 1000)!, batchSize };
  };
  const inbox = async (): Promise<Row[]> =>
    (
      await pair.b.client.query<Row>(
        `SELECT ${INBOX_COLUMNS.map((c) => `${c}::text AS ${c}, encode(convert_to(${c}::text, 'UTF8'), 'hex') AS ${c}_hex`).join(', ')} FROM ds_change_inbox ORDER BY updated_by_server_id COLLATE "C", origin_change_id`,
      )
    ).rows;
  const handle = (h: NodeHandle, client: DbClient): NodeHandle => ({ ...h, client });

  it('writes the inbox byte for byte as the driver path does, echoes skipped, a resend absorbed', async () => {
    // Batches of 7: the first is read with the horizon (the driver path), the others by COPY.
    const copied = await transportOnce(await program(pair.a.client, 7), pair.a, pair.b);
    const byCopy = await inbox();
    await pair.b.client.query('DELETE FROM ds_change_inbox');
    const driver = withoutCopyOut(pair.a.client);
    const bound = await transportOnce(await program(driver, 7), handle(pair.a, driver), pair.b);
    const byDriver = await inbox();
    expect({ seed, moved: copied.moved, skippedEcho: copied.skippedEcho }).toEqual({
      seed,
      moved: bound.moved,
      skippedEcho: bound.skippedEcho,
    });
    expect(copied.skippedEcho).toBeGreaterThan(0);
    expect(byCopy.length).toBe(rows - copied.skippedEcho);
    expect({ seed, rows: byCopy }).toEqual({ seed, rows: byDriver });
    // Every row again by COPY (batches after the first) over an inbox that has about half of them.
    await pair.b.client.query('DELETE FROM ds_change_inbox WHERE origin_change_id % 2 = 0');
    const resent = await transportOnce(await program(pair.a.client, 50), pair.a, pair.b);
    expect(resent.moved).toBe(rows - copied.skippedEcho);
    expect({ seed, rows: await inbox() }).toEqual({ seed, rows: byDriver });
  }, 120_000);
});
