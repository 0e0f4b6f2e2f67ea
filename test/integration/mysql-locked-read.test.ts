/**
 * The version store's locked read on MySQL/MariaDB (readEntries), as the import and a load's
 * chunk make it: many keys go by a table value constructor joined to ds_row_version
 * (BulkWriter.selectByKeys, MariaDB), few by the IN list. What could break: the join locking
 * less than the IN list. A load is safe only because the locked read also locks the gap of
 * each key that has no entry, so a concurrent insert of that entry (an import's, a capture
 * trigger's) waits for the chunk's commit (docs/onboarding.md "Why a load is safe"). Tried
 * from a second session with a lock wait timeout of (nearly) nothing: inserting an asked
 * key that has no entry and updating an asked entry must both time out, for the join and
 * for the IN list; updating an entry not asked must not (the probe can tell). Keys and
 * entries are drawn from a printed seed. Also: both paths read the same entries, keys
 * compared byte for byte (utf8mb4_bin, trailing spaces padded as the column does); and a
 * composite key's rows are read as one row-value list that locks only the rows asked.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ValueMap } from '../../src/core/change.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { fetchRows } from '../../src/runtime/import/dml.ts';
import { readEntries } from '../../src/runtime/import/version-store.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createSyncNode, type SyncNode } from '../helpers/sync-node.ts';
import { extraSessions } from '../helpers/sync-pair.ts';

const live = await liveDialects();
const mysql = live.includes('mysql');

const ER_LOCK_WAIT_TIMEOUT = 1205;
const TABLE = 'sales_order';

/** `client` with every statement's text recorded, and optionally a dialect whose BulkWriter has no selectByKeys (the IN list). */
function recorded(client: DbClient, sent: string[], inList = false): DbClient {
  const dialect = inList
    ? Object.create(client.dialect, { bulk: { value: { ...client.dialect.bulk, selectByKeys: undefined } } })
    : client.dialect;
  return new Proxy(client, {
    get(target, prop) {
      if (prop === 'dialect') return dialect;
      if (prop === 'query' || prop === 'queryArrays' || prop === 'loadData')
        return (sql: string, arg: never) => {
          sent.push(sql);
          return (target as never as Record<string, (a: string, b: never) => Promise<unknown>>)[prop](sql, arg);
        };
      if (prop === 'transaction')
        return <T>(fn: (tx: DbClient) => Promise<T>) => target.transaction((tx) => fn(recorded(tx, sent, inList)));
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The statement's error number, or null when it ran. */
const errnoOf = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: { errno?: number }) => e.errno ?? -1,
  );

const entry = (table: string, key: string) => [table, key, 1, 1000, 1000, 'seed', '{}'];

describe.skipIf(!mysql)('mysql: the version store locked read', () => {
  let node: SyncNode;
  const sessions = extraSessions(() => node.dialect.connect(node.db.url, 'mysql'));
  const seed = Number(process.env.DSYNC_SEED ?? Date.now() % 1_000_000);
  const rand = random(seed);
  const keyName = (i: number) => `k${String(i).padStart(4, '0')}`;
  /** Keys k0000…k0599; about half have an entry of sales_order, and another table's entries lie after them. */
  const stored = new Set<string>();

  beforeAll(async () => {
    console.log(`mysql-locked-read seed ${seed} (DSYNC_SEED=${seed} replays it)`);
    node = await createSyncNode('mysql');
    for (let i = 0; i < 600; i++) if (rand() < 0.5) stored.add(keyName(i));
    const rows = [...[...stored].map((k) => entry(TABLE, k)), entry('zz_other', 'a'), entry('zz_other', 'b')];
    await node.client.query(
      `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions) VALUES ${rows
        .map(() => '(?, ?, ?, ?, ?, ?, ?)')
        .join(', ')}`,
      rows.flat(),
    );
  });
  afterAll(async () => {
    await sessions.closeAll();
    await node?.close();
  });

  /** A second session whose lock waits end (nearly) at once, each probe in a transaction rolled back. */
  async function prober() {
    const probe = await sessions.session();
    // 0 is "no wait" on MariaDB; MySQL takes 1 s at least.
    await probe.query('SET SESSION innodb_lock_wait_timeout = 0');
    const attempt = (sql: string, params: unknown[]) =>
      errnoOf(
        probe
          .transaction(async (tx) => {
            await tx.query(sql, params);
            throw new Error('roll back');
          })
          .catch((e: { errno?: number }) => {
            if (e.errno === undefined) return;
            throw e;
          }),
      );
    return {
      insert: (key: string) =>
        attempt(
          'INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions) VALUES (?, ?, ?, ?, ?, ?, ?)',
          entry(TABLE, key),
        ),
      update: (key: string) => attempt('UPDATE ds_row_version SET cl = cl + 2 WHERE table_name = ? AND row_key = ?', [TABLE, key]),
    };
  }

  const pick = <T>(from: T[], n: number) => {
    const pool = [...from];
    const out: T[] = [];
    while (out.length < n && pool.length) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]);
    return out;
  };

  it.each([
    ['the keys joined as table values', false, 200, 'STRAIGHT_JOIN'],
    ['the IN list, many keys', true, 200, ' IN ('],
    ['the IN list, few keys', false, 20, ' IN ('],
  ])('%s locks each asked entry and the gap of each asked key without one', async (_, inList, count, shape) => {
    const asked = pick(
      Array.from({ length: 600 }, (_, i) => keyName(i)),
      count,
    );
    // Always one asked key past the last entry of the table: its gap runs into another table's entries.
    const last = keyName(599);
    if (!stored.has(last) && !asked.includes(last)) asked.push(last);
    const missing = asked.filter((k) => !stored.has(k));
    const present = asked.filter((k) => stored.has(k));
    const probe = await prober();
    const reader = await sessions.session();
    const sent: string[] = [];
    await recorded(reader, sent, inList).transaction(async (tx) => {
      const found = await readEntries(tx, TABLE, asked);
      expect([...found.keys()].sort()).toEqual(present.sort());
      expect(sent.some((s) => s.includes('ds_row_version') && s.includes(shape))).toBe(true);
      for (const key of pick(missing, 6)) expect({ key, insert: await probe.insert(key) }).toEqual({ key, insert: ER_LOCK_WAIT_TIMEOUT });
      for (const key of pick(present, 4)) expect({ key, update: await probe.update(key) }).toEqual({ key, update: ER_LOCK_WAIT_TIMEOUT });
      // The probe can succeed: an entry not asked is not locked by the look-ups (the join's; the
      // IN list's plan may scan more).
      if (!inList && count >= 64) {
        const free = [...stored].filter((k) => !asked.includes(k));
        for (const key of pick(free, 3)) expect({ key, update: await probe.update(key) }).toEqual({ key, update: null });
      }
    });
    // Committed: nothing is held any more.
    for (const key of pick(missing, 2)) expect(await probe.insert(key)).toBeNull();
  });

  it('reads the same entries both ways, keys compared as the column compares them', async () => {
    const odd = ['tab\there', 'line\nbreak', 'back\\slash', '\\N', 'ünïcødé ☃', 'quote\'"`', '', 'x'.repeat(700), 'Case', 'pad'];
    await node.client.query(
      `INSERT INTO ds_row_version (table_name, row_key, cl, max_version, base_version, base_server, col_versions) VALUES ${odd
        .map(() => '(?, ?, ?, ?, ?, ?, ?)')
        .join(', ')}`,
      odd.flatMap((k, i) => [TABLE, k, 2 * i + 1, 5000 + i, 4000 + i, `s${i}`, JSON.stringify({ c: [i, 'x'] })]),
    );
    const many = Array.from({ length: 100 }, (_, i) => keyName(i));
    const cases: Array<[string, string[]]> = [
      ['odd keys', [...odd, ...many]],
      ['a key too long for the column', [...odd, 'y'.repeat(701), ...many]],
      ['other cases, a trailing space', ['CASE', 'case', 'pad ', ...many]],
    ];
    for (const [name, keys] of cases) {
      const viaJoin: string[] = [];
      const join = await recorded(node.client, viaJoin).transaction((tx) => readEntries(tx, TABLE, keys));
      const list = await recorded(node.client, [], true).transaction((tx) => readEntries(tx, TABLE, keys));
      expect({ name, entries: [...join].sort() }).toEqual({ name, entries: [...list].sort() });
      expect({ name, read: viaJoin.some((s) => s.includes('ds_row_version') && s.includes('STRAIGHT_JOIN')) }).toEqual({
        name,
        read: true,
      });
      // 'CASE' and 'case' are not 'Case' (utf8mb4_bin); 'pad ' is 'pad' (PAD SPACE), as in the IN list.
      const expected = keys.includes('Case') ? ['Case', 'pad'] : ['pad'];
      expect({ name, found: ['Case', 'pad'].filter((k) => join.has(k)) }).toEqual({ name, found: expected });
    }
    const found = await node.client.transaction((tx) => readEntries(tx, TABLE, [...odd, ...many]));
    expect(found.get('\\N')).toEqual({
      cl: 7,
      maxVersion: 5003,
      base: { time: 4003, server: 's3' },
      columns: { c: { time: 3, server: 'x' } },
    });
  });
});

// The import's locked read of a composite key's rows (fetchRows, order_line's key order_id,
// line_no): one row-value list (DialectSql.rowValueIn), which MariaDB reads as ranges of the
// primary key. Ten thousand ORs of ANDs took ~40 times as long, and a plan that scans the table
// FOR UPDATE locks every row it reads: here a row not asked must stay free for the application.
describe.skipIf(!mysql)("mysql: a composite key's locked read", () => {
  let node: SyncNode;
  const sessions = extraSessions(() => node.dialect.connect(node.db.url, 'mysql'));
  const seed = Number(process.env.DSYNC_SEED ?? Date.now() % 1_000_000);
  const line = (i: number) => ({ order_id: `o${Math.floor(i / 10)}`, line_no: i % 10 });

  beforeAll(async () => {
    node = await createSyncNode('mysql');
    await node.client.exec(
      "INSERT INTO order_line (order_id, line_no, product) SELECT CONCAT('o', seq DIV 10), seq MOD 10, 'p' FROM seq_0_to_2999",
    );
  });
  afterAll(async () => {
    await sessions.closeAll();
    await node?.close();
  });

  it(`names the keys as one list, reads exactly the rows asked, and locks no other (seed ${seed})`, async () => {
    const rand = random(seed);
    const table = node.tables.order_line;
    const text = (k: ValueMap) => canonicalKeyText(table, k);
    const asked = new Set<number>();
    while (asked.size < 1000) asked.add(Math.floor(rand() * 3000));
    const free = [...Array(3000).keys()].find((i) => !asked.has(i))!;
    const keys = [...[...asked].map(line), ...Array.from({ length: 200 }, (_, i) => line(3000 + i))];
    const probe = await sessions.session();
    await probe.query('SET SESSION innodb_lock_wait_timeout = 0');
    const update = (i: number) =>
      errnoOf(
        probe.query('UPDATE order_line SET product = ? WHERE order_id = ? AND line_no = ?', ['x', line(i).order_id, line(i).line_no]),
      );
    const sent: string[] = [];
    await node.client.transaction(async (tx) => {
      const rows = await fetchRows(recorded(tx, sent), table, keys, text);
      expect([...rows.keys()].sort()).toEqual([...asked].map((i) => text(line(i))).sort());
      expect(await update([...asked][0]), 'an asked row').toBe(ER_LOCK_WAIT_TIMEOUT);
      expect(await update(free), 'a row not asked').toBeNull();
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('`line_no`) IN ((');
    expect(sent[0]).not.toContain(' OR ');
  });
});
