/**
 * The transport's COPY text built from a SQLite or MariaDB outbox's array rows
 * (copy-text-writer.ts, transport.ts outboxRowsAsCopy) into a destination that takes COPY text
 * (PostgreSQL's COPY FROM, MariaDB's LOAD DATA): the inbox holds, byte for byte, what the path that
 * binds values writes (the destination without insertCopyText). The outbox holds changes the
 * capture triggers wrote for rows of every type family (NULLs included), and rows written by hand
 * with odd text in every column (tabs, line ends, backslashes, `\f` `\v` and other control
 * characters, `\N` as text, non-BMP text, texts of thousands of characters), long, missing and echoed
 * origins, times in several spellings; a resend over half of the inbox is refused by the COPY and
 * absorbed by the values path (guarantee 3). Seeded: the seed is printed, DSYNC_TEST_SEED repeats a run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProgramConfig } from '../../src/config/config.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { insertRow } from '../../src/runtime/import/dml.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';
import { forgetPointer } from '../../src/runtime/program-state.ts';
import { INBOX_COLUMNS, transportOnce } from '../../src/runtime/transport/transport.ts';
import { boundTarget, countedTarget } from '../helpers/copy-text-target.ts';
import { liveDialects } from '../helpers/databases.ts';
import { oddText, random } from '../helpers/random.ts';
import { createSyncPair, type SyncPair } from '../helpers/sync-pair.ts';

const live = await liveDialects();

/** Beyond oddText's: Control-Z, LOAD DATA's escapes spelled out, the letters of COPY's `\f` `\v` escapes. */
const MORE_ODD = ['\u001a', '\\0', '\\Z', 'f', 'v', '\\f', '\\v', '\f\v', 'NULL', '\r\n', '\\N'];
const text = (next: () => number, max = 16) => {
  const s = oddText(next, max);
  return next() < 0.3 ? s + MORE_ODD[Math.floor(next() * MORE_ODD.length)] + oddText(next, 4) : s;
};
/** Sometimes a long text: the writer encodes strings of 48 units or more another way. */
const longText = (next: () => number) => (next() < 0.2 ? text(next, 16).repeat(1 + Math.floor(next() * 400)) : text(next, 80));

/** The inbox as text and hex of every value, in origin order. */
const INBOX_READS: Partial<Record<DialectName, string>> = {
  postgres: `SELECT ${INBOX_COLUMNS.map((c) => `${c}::text AS ${c}, encode(convert_to(${c}::text, 'UTF8'), 'hex') AS ${c}_hex`).join(', ')} FROM ds_change_inbox ORDER BY updated_by_server_id COLLATE "C", origin_change_id`,
  mysql: `SELECT ${INBOX_COLUMNS.map((c) => `CAST(${c} AS CHAR) AS ${c}, HEX(${c}) AS ${c}_hex`).join(', ')} FROM ds_change_inbox ORDER BY updated_by_server_id, origin_change_id`,
};

const hex = (next: () => number, n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(next() * 256))).toString('base64');
const digits = (next: () => number, n: number) => Array.from({ length: n }, () => Math.floor(next() * 10)).join('');
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** A type_zoo row of every family with random values every brand holds, some NULL. */
function zooRow(next: () => number, id: number): ValueMap {
  const maybe = <T>(v: T): T | null => (next() < 0.15 ? null : v);
  const day = `${1970 + Math.floor(next() * 60)}-${pad(1 + Math.floor(next() * 12))}-${pad(1 + Math.floor(next() * 28))}`;
  const time = `${pad(Math.floor(next() * 24))}:${pad(Math.floor(next() * 60))}:${pad(Math.floor(next() * 60))}.${digits(next, 6)}`;
  return {
    id,
    c_smallint: maybe(Math.floor(next() * 65536) - 32768),
    c_int: maybe(Math.floor(next() * 2 ** 32) - 2 ** 31),
    c_bigint: maybe(`${next() < 0.5 ? '-' : ''}${1 + Math.floor(next() * 9)}${digits(next, Math.floor(next() * 18))}`),
    c_decimal: maybe(`${next() < 0.5 ? '-' : ''}${digits(next, 1 + Math.floor(next() * 8))}.${digits(next, 6)}`),
    c_float: maybe((next() - 0.5) * 10 ** Math.floor(next() * 300)),
    c_real: maybe(Math.floor((next() - 0.5) * 1000) / 4),
    c_bool: maybe(next() < 0.5),
    c_char: maybe('abcde'.slice(0, Math.floor(next() * 6))),
    c_varchar: maybe(text(next, 30).slice(0, 90)),
    c_text: maybe(longText(next)),
    c_date: maybe(day),
    c_time: maybe(time),
    c_timestamp: maybe(`${day}T${time}`),
    c_timestamptz: maybe(`${day}T${time}Z`),
    c_bytea: maybe(hex(next, Math.floor(next() * 64))),
    c_json: maybe(JSON.stringify({ t: text(next, 10), n: next() * 1e6, a: [1, null, true, text(next, 5)] })),
    c_uuid: maybe(`${digits(next, 8)}-${digits(next, 4)}-4${digits(next, 3)}-a${digits(next, 3)}-${digits(next, 12)}`),
  };
}

const PAIRS: Array<[DialectName, DialectName]> = [
  ['sqlite', 'postgres'],
  ['mysql', 'postgres'],
  ['sqlite', 'mysql'],
  ['mysql', 'mysql'],
];
const ZOO_ROWS = 120;
const HAND_ROWS = 700;
const BATCH = 150;

for (const [from, to] of PAIRS)
  describe.skipIf(!live.includes(from) || !live.includes(to))(`transport as COPY text from array rows, ${from} → ${to}`, () => {
    let pair: SyncPair;
    const seed = Number(process.env.DSYNC_TEST_SEED ?? Date.now() % 1_000_000);

    beforeAll(async () => {
      pair = await createSyncPair(from, to);
      console.log(`transport COPY rows ${from} → ${to} randomized: seed ${seed} (DSYNC_TEST_SEED=${seed} repeats it)`);
      const next = random(seed);
      // Changes of every type family, as the capture triggers write them: inserts, then updates of some.
      for (let id = 1; id <= ZOO_ROWS; id++) await insertRow(pair.a.client, pair.tables.a.type_zoo, zooRow(next, id));
      const zoo = pair.a.dialect.sql.ident('type_zoo');
      const p = pair.a.dialect.sql.param;
      for (let id = 1; id <= ZOO_ROWS; id += 3)
        await pair.a.client.query(`UPDATE ${zoo} SET ${pair.a.dialect.sql.ident('c_text')} = ${p(1)} WHERE id = ${p(2)}`, [
          longText(next),
          id,
        ]);
      // Hand-written rows with odd text in every column.
      const columns = INBOX_COLUMNS;
      const servers = [null, null, 'server-a', 'server-b', 'other', 'tab\there\\and\nline', `${'x'.repeat(60)}😀😀`, '😀'.repeat(16)];
      const times = ['2026-12-01 03:04:05.123456', '2026-12-01 03:04:05.12', '2026-12-01 03:04:05', '1999-02-28 23:59:59.000001'];
      const maybe = (v: unknown) => (next() < 0.2 ? null : v);
      const rows: unknown[][] = [];
      for (let i = 0; i < HAND_ROWS; i++)
        rows.push([
          maybe(text(next)),
          text(next) || 'sales_order',
          maybe(text(next)),
          maybe(text(next)),
          maybe(text(next, 40)),
          maybe(text(next)),
          maybe(longText(next)),
          maybe(longText(next)),
          'IUD'[Math.floor(next() * 3)],
          maybe(text(next)),
          servers[Math.floor(next() * servers.length)]?.slice(0, 40) ?? null,
          maybe(text(next, 30).slice(0, 100)),
          times[Math.floor(next() * times.length)],
          maybe(text(next)),
          maybe(Math.floor(next() * 1e9)),
          maybe(Math.floor(next() * 1e9)),
          maybe(Math.floor(next() * 1e9)),
          next() < 0.5 ? null : 1_000_000 + i + Math.floor(next() * 1e12),
        ]);
      const tuple = (r: number) => `(${columns.map((_, c) => p(r * columns.length + c + 1)).join(', ')})`;
      for (let start = 0; start < rows.length; start += 40) {
        const chunk = rows.slice(start, start + 40);
        await pair.a.client.query(
          `INSERT INTO ds_change_outbox (${columns.join(', ')}) VALUES ${chunk.map((_, r) => tuple(r)).join(', ')}`,
          chunk.flat(),
        );
      }
    }, 180_000);

    afterAll(async () => {
      await pair?.close();
    });

    /** Program 1000 with `batchSize`, its pointer back at 0 (the kept pointer forgotten). */
    const program = async (batchSize: number): Promise<ProgramConfig> => {
      await pair.a.client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
      forgetPointer(pair.a.client, 1000);
      return { ...pair.config.programs.find((p) => p.id === 1000)!, batchSize };
    };
    /** Passes until every row is moved (MariaDB's horizon may hold fresh rows back for a pass), their counts summed. */
    const transport = async (batchSize: number, target: NodeHandle) => {
      const config = await program(batchSize);
      const sum = { moved: 0, skippedEcho: 0 };
      for (let pass = 0; pass < 20; pass++) {
        const r = await transportOnce(config, pair.a, target);
        sum.moved += r.moved;
        sum.skippedEcho += r.skippedEcho;
        if (r.heldBack === 0 && r.moved + r.skippedEcho === 0) break;
        if (r.heldBack > 0) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return sum;
    };
    const inbox = async (): Promise<Row[]> => (await pair.b.client.query<Row>(INBOX_READS[to]!)).rows;
    const counted = () => countedTarget(pair.b);
    const bound = () => boundTarget(pair.b);

    it('writes the inbox byte for byte as the values path does, echoes skipped, a resend absorbed', async () => {
      const copy = counted();
      const byText = await transport(BATCH, copy.target);
      const byCopy = await inbox();
      await pair.b.client.query('DELETE FROM ds_change_inbox');
      const byValues = await transport(BATCH, bound());
      const byDriver = await inbox();
      expect({ seed, moved: byText.moved, skippedEcho: byText.skippedEcho }).toEqual({
        seed,
        moved: byValues.moved,
        skippedEcho: byValues.skippedEcho,
      });
      expect(byText.skippedEcho).toBeGreaterThan(0);
      // Batches of at least 64 rows go as COPY text (MariaDB's LOAD DATA hands smaller ones back).
      expect(copy.counts.copied).toBeGreaterThanOrEqual(Math.floor((HAND_ROWS + ZOO_ROWS + ZOO_ROWS / 3) / BATCH) - 1);
      if (to === 'postgres') expect(copy.counts.refused).toBe(0);
      // Every outbox row arrives or was an echo. Counted, not assumed: an update that writes a row's value
      // again (two empty texts, seed 902716) captures nothing.
      const outbox = Number((await pair.a.client.query<Row>('SELECT count(*) AS n FROM ds_change_outbox')).rows[0].n);
      expect(outbox).toBeGreaterThan(HAND_ROWS + ZOO_ROWS);
      expect(byCopy.length).toBe(outbox - byText.skippedEcho);
      expect({ seed, rows: byCopy }).toEqual({ seed, rows: byDriver });
      // Every row again over an inbox that has about half of them: each batch refused, then absorbed.
      await pair.b.client.query('DELETE FROM ds_change_inbox WHERE origin_change_id % 2 = 0');
      const again = counted();
      const resent = await transport(BATCH, again.target);
      expect(again.counts.refused).toBeGreaterThan(0);
      expect(resent.moved).toBe(byText.moved);
      expect({ seed, rows: await inbox() }).toEqual({ seed, rows: byDriver });
    }, 180_000);
  });
