/**
 * Issue 12's run for real: three nodes of three brands (PostgreSQL, SQLite, MariaDB)
 * linked both ways in a mesh, one link through NATS JetStream, one `dsync run --node`
 * daemon per site. Seeded random writers change every node while the NATS server is
 * restarted, PostgreSQL is stopped and started, and one site's daemon (the NATS
 * consumer of its link) is away for a while. At the end every pair verifies equal
 * (`dsync verify`, exit 0), each node holds exactly the rows its writers' models say,
 * and, once every inbox holds every change captured at the other sites (rows can be equal
 * before the copies of overwritten changes land), no change was received, recorded or applied twice. It runs twice: with every site in
 * trigger capture, and with the PostgreSQL site in capture mode keys (its daemon's capture
 * passes send its changes; the imports into it capture first what those have not read yet).
 *
 * PostgreSQL is a private cluster and NATS a private server (test/helpers), so that
 * stopping them disturbs no other test. DSYNC_THREE_NODE_SEED replays a run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import { compareTables, hasDifferences } from '../../src/verify/compare-tables.ts';
import { type DaemonProcess, runCli, spawnDaemon } from '../helpers/cli.ts';
import { createTestDatabase, REQUIRE_SERVERS, type TestDatabase } from '../helpers/databases.ts';
import { type PrivateNats, startPrivateNats } from '../helpers/nats.ts';
import { type PrivatePostgres, postgresBinDir, startPrivatePostgres } from '../helpers/private-postgres.ts';
import { random } from '../helpers/random.ts';

const seed = Number(process.env.DSYNC_THREE_NODE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const began = Date.now();
/** Progress on stderr, so that a slow phase shows while it runs. */
const note = (text: string) => process.stderr.write(`three-node run +${((Date.now() - began) / 1000).toFixed(1)}s: ${text}\n`);

/** Why this machine cannot run the test, or null. */
async function missing(): Promise<string | null> {
  if (!postgresBinDir()) return 'no PostgreSQL server binaries (a private cluster is stopped and started)';
  const probe = await createTestDatabase('mysql', 'dsync_probe').catch(() => null);
  if (!probe) return 'MariaDB does not answer';
  await probe.drop();
  return null;
}
const why = await missing();
if (why) {
  if (REQUIRE_SERVERS) throw new Error(`three-node run: ${why}`);
  console.warn(`skipping the three-node run: ${why}`);
}

const TEST_TIMEOUT_MS = 300_000;
const SITES = ['pg', 'lite', 'maria'] as const;
type Site = (typeof SITES)[number];
const DIALECTS: Record<Site, DialectName> = { pg: 'postgres', lite: 'sqlite', maria: 'mysql' };
const SHARED = ['shared-0', 'shared-1', 'shared-2', 'shared-3', 'shared-4'];

interface ItemRow {
  n: number;
  note: string;
}

/**
 * A seeded writer at one site: inserts, updates (n + 1, a new note) and deletes of its
 * own keys, modelled exactly, and updates of the shared keys' note (which converge by
 * latest-wins, not by a model). Each statement commits alone; pause() waits for the
 * statement in hand so that a server can be stopped with no write in doubt.
 */
class Writer {
  readonly model = new Map<string, ItemRow>();
  private next = 0;
  private paused = false;
  private running = true;
  private busy: Promise<void> = Promise.resolve();
  private readonly rand: () => number;
  private done: Promise<void> = Promise.resolve();
  ops = 0;
  /** The first write that failed (the test fails on it once the writers stop). */
  error: unknown = null;

  constructor(
    readonly site: Site,
    public client: DbClient,
    seedOffset: number,
  ) {
    this.rand = random(seed + seedOffset);
  }

  start(): void {
    this.done = (async () => {
      while (this.running) {
        if (!this.paused) {
          this.busy = this.step().catch((error) => {
            this.error ??= error;
            this.running = false;
          });
          await this.busy;
        }
        await sleep(15 + this.rand() * 30);
      }
    })();
  }

  async pause(): Promise<void> {
    this.paused = true;
    await this.busy;
  }

  resume(client: DbClient): void {
    this.client = client;
    this.paused = false;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async step(): Promise<void> {
    const r = this.rand();
    const own = [...this.model.keys()];
    const note = `${this.site}-${Math.floor(this.rand() * 1e6)}`;
    this.ops++;
    if (r < 0.15) {
      const key = SHARED[Math.floor(this.rand() * SHARED.length)];
      await this.client.exec(`UPDATE item SET note = '${note}' WHERE id = '${key}'`);
    } else if (own.length < 5 || r < 0.5) {
      const key = `${this.site}-${this.next++}`;
      await this.client.exec(`INSERT INTO item (id, owner, n, note) VALUES ('${key}', '${this.site}', 0, '${note}')`);
      this.model.set(key, { n: 0, note });
    } else if (r < 0.85) {
      const key = own[Math.floor(this.rand() * own.length)];
      await this.client.exec(`UPDATE item SET n = n + 1, note = '${note}' WHERE id = '${key}'`);
      const row = this.model.get(key)!;
      this.model.set(key, { n: row.n + 1, note });
    } else {
      const key = own[Math.floor(this.rand() * own.length)];
      await this.client.exec(`DELETE FROM item WHERE id = '${key}'`);
      this.model.delete(key);
    }
  }
}

const dir = mkdtempSync(join(tmpdir(), 'dsync-three-'));
const cleanups: Array<() => Promise<void> | void> = [];
// Each run's servers and daemons go before the next run starts its own.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The runs: every site in trigger capture, and the PostgreSQL site in capture mode keys (its passes run in its daemon). */
const VARIANTS: Array<{ name: string; keys: Site | null }> = [
  { name: 'trigger capture everywhere', keys: null },
  { name: 'the PostgreSQL site in capture mode keys', keys: 'pg' },
];

describe.skipIf(why !== null).each(VARIANTS)('three nodes under dsync run, one link over JetStream: $name', ({ keys }) => {
  it(`writes everywhere arrive everywhere once through restarts and an offline site (seed ${seed})`, {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    console.log(`three-node run: seed ${seed} (replay with DSYNC_THREE_NODE_SEED=${seed})`);
    const runDir = mkdtempSync(join(dir, 'run-'));
    const nats = (await startPrivateNats()) as PrivateNats;
    cleanups.push(() => nats.destroy());
    const pg: PrivatePostgres = await startPrivatePostgres();
    cleanups.push(() => pg.destroy());
    const maria: TestDatabase = await createTestDatabase('mysql', 'dsync_three');
    cleanups.push(() => maria.drop());
    const urls: Record<Site, string> = { pg: await pg.createDatabase('dsync_three'), lite: join(runDir, 'lite.db'), maria: maria.url };

    const config = join(runDir, 'dsync.config.json');
    writeFileSync(
      config,
      JSON.stringify({
        nodes: Object.fromEntries(
          SITES.map((s) => [
            s,
            { dialect: DIALECTS[s], url: urls[s], serverId: `server-${s}`, ...(s === keys ? { capture: { item: 'keys' } } : {}) },
          ]),
        ),
        tables: ['item'],
        links: [
          { between: ['pg', 'lite'], intervalSeconds: 1, batchSize: 200 },
          { between: ['lite', 'maria'], intervalSeconds: 1, batchSize: 200 },
          { between: ['pg', 'maria'], intervalSeconds: 1, batchSize: 200, via: nats.url },
        ],
        nats: { ackWaitSeconds: 5 },
        generatedDir: join(runDir, 'generated'),
      }),
    );
    const clients = {} as Record<Site, DbClient>;
    const connect = async (site: Site) => (await getDialect(DIALECTS[site])).connect(urls[site], site);
    for (const site of SITES) {
      clients[site] = await connect(site);
      await clients[site].exec(
        'CREATE TABLE item (id VARCHAR(20) PRIMARY KEY NOT NULL, owner VARCHAR(10) NOT NULL, n INTEGER NOT NULL, note VARCHAR(100))',
      );
    }
    cleanups.push(async () => {
      for (const site of SITES) await clients[site].close().catch(() => undefined);
    });
    for (const step of ['generate', 'apply']) {
      const r = await runCli(['--config', config, step]);
      expect(r.code, r.stderr).toBe(0);
    }
    for (const key of SHARED) await clients.pg.exec(`INSERT INTO item (id, owner, n, note) VALUES ('${key}', 'shared', 0, 'start')`);

    const daemons = {} as Record<Site, DaemonProcess>;
    const startDaemon = (site: Site) => {
      daemons[site] = spawnDaemon(['--config', config, 'run', '--node', site, '--port', '0', '--log-format', 'json'], runDir);
    };
    cleanups.push(async () => {
      for (const site of SITES) await daemons[site]?.stop();
    });
    for (const site of SITES) startDaemon(site);
    note('daemons started');
    const output = () => SITES.map((s) => `--- ${s} ---\n${daemons[s].output().slice(-3000)}`).join('\n');
    const count = async (client: DbClient, sql: string) => Number(Object.values((await client.query<Row>(sql)).rows[0])[0]);
    const arrived = async () =>
      (await count(clients.lite, 'SELECT count(*) FROM item')) + (await count(clients.maria, 'SELECT count(*) FROM item'));
    // Up to 90 s: three daemons start at once beside another test file, and MariaDB's safe horizon waits
    // for every transaction open on the server, other files' included (docs/dialects/mysql.md, "The safe
    // horizon"). Slow is noted; stuck fails, with the daemons' logs.
    const waitedFrom = Date.now();
    for (let i = 0; i < 900 && (await arrived()) < 2 * SHARED.length; i++) await sleep(100);
    note(`shared rows arrived after ${((Date.now() - waitedFrom) / 1000).toFixed(1)} s`);
    expect(await count(clients.lite, 'SELECT count(*) FROM item'), output()).toBe(SHARED.length);
    expect(await count(clients.maria, 'SELECT count(*) FROM item'), output()).toBe(SHARED.length);

    const writers = SITES.map((site, i) => new Writer(site, clients[site], i));
    const writerOf = (site: Site) => writers.find((w) => w.site === site)!;
    for (const w of writers) w.start();
    note('writers started');
    try {
      await sleep(3000);
      // The NATS server goes away and comes back while every node writes.
      note('restarting NATS');
      await nats.restart();
      note('NATS is back');
      await sleep(3000);
      // PostgreSQL stops hard and starts again; its writer waits meanwhile (no write in doubt).
      await writerOf('pg').pause();
      await clients.pg.close().catch(() => undefined);
      pg.stop('immediate');
      note('PostgreSQL stopped');
      await sleep(3000);
      pg.start();
      clients.pg = await connect('pg');
      writerOf('pg').resume(clients.pg);
      note('PostgreSQL is back');
      await sleep(3000);
      // MariaDB's site goes offline: its daemon (the consumer of the NATS link pg -> maria) stops; writes go on everywhere.
      expect(await stopWithin(daemons.maria, 60_000), output()).toBe(0);
      note('maria daemon stopped');
      await sleep(6000);
      // The pg daemon may still be backing off after PostgreSQL's restart (up to 10 s between tries,
      // backoff.ts): the writers go on until it has published something for the offline consumer.
      let pending = await pendingMessages(nats.url);
      for (let i = 0; i < 60 && pending === 0; i++) {
        await sleep(500);
        pending = await pendingMessages(nats.url);
      }
      expect(pending, 'changes from pg wait in the stream for the offline consumer').toBeGreaterThan(0);
      startDaemon('maria');
      note(`maria daemon started again (${pending} message(s) waited for it)`);
      await sleep(3000);
    } finally {
      for (const w of writers) await w.stop();
    }
    note(`writers stopped: ${writers.map((w) => `${w.site} ${w.ops} writes`).join(', ')}`);
    for (const w of writers) expect(w.error, `${w.site}'s writer`).toBeNull();

    // Drain: every pair equal (compared in-process while waiting; `dsync verify` decides).
    const pairs: Array<[Site, Site]> = [
      ['pg', 'lite'],
      ['pg', 'maria'],
      ['lite', 'maria'],
    ];
    const tableOf = async (site: Site) => (await getDialect(DIALECTS[site])).introspect(clients[site], 'item');
    // Up to 90 s, and never so long that the test's own timeout would hide the diagnostics below.
    const drainUntil = Math.min(Date.now() + 90_000, began + TEST_TIMEOUT_MS - 60_000);
    const differs = async () => {
      for (const [a, b] of pairs) {
        const result = await compareTables(
          { client: clients[a], table: await tableOf(a) },
          { client: clients[b], table: await tableOf(b) },
        );
        if (hasDifferences(result)) return true;
      }
      return false;
    };
    let differ = true;
    while (differ && Date.now() < drainUntil) {
      await sleep(500);
      differ = await differs();
    }
    note(differ ? 'still different when the drain gave up' : 'drained');

    // Every change captured at a site (counted again each time: a keys-mode site's pass may still capture), and
    // whether every other site's inbox holds as many from it.
    const captured = {} as Record<Site, number>;
    const received = (site: Site, origin: Site) =>
      count(clients[site], `SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 'server-${origin}'`);
    const complete = async () => {
      for (const site of SITES) {
        captured[site] = await count(clients[site], `SELECT count(*) FROM ds_change_outbox WHERE updated_by_server_id = 'server-${site}'`);
      }
      for (const site of SITES)
        for (const origin of SITES) if (site !== origin && (await received(site, origin)) < captured[origin]) return false;
      return true;
    };
    // The rows can be equal before the last copies arrive: a change that a later one overwrote may still wait in an
    // outbox behind MariaDB's server-wide horizon (transactions of the test file running beside this one), or in the
    // stream for its redelivery (ack_wait, 5 s here). Up to 60 s, then the rows compared again (what those copies did
    // is checked too); a change lost for good fails "Once" below.
    const inboxesFrom = Date.now();
    const lateUntil = Math.min(inboxesFrom + 60_000, began + TEST_TIMEOUT_MS - 30_000);
    let whole = await complete();
    while (!whole && Date.now() < lateUntil) {
      await sleep(500);
      whole = await complete();
    }
    note(`${whole ? 'every inbox complete' : 'an inbox still short'} after ${((Date.now() - inboxesFrom) / 1000).toFixed(1)} s more`);
    differ = await differs();
    while (differ && Date.now() < lateUntil) {
      await sleep(500);
      differ = await differs();
    }
    for (const [a, b] of pairs) {
      const r = await runCli(['--config', config, 'verify', a, b]);
      expect(r.code, `seed ${seed}: dsync verify ${a} ${b}\n${r.stdout}${r.stderr}\n${output()}`).toBe(0);
    }

    // Each writer's own rows, exactly as its model says, on every node.
    const expected = writers.flatMap((w) => [...w.model].map(([id, row]) => `${id} ${w.site} ${row.n} ${row.note}`)).sort();
    for (const site of SITES) {
      const { rows } = await clients[site].query<Row>("SELECT id, owner, n, note FROM item WHERE owner <> 'shared'");
      const actual = rows.map((r) => `${r.id} ${r.owner} ${Number(r.n)} ${r.note}`).sort();
      expect(actual, `seed ${seed}: ${site}'s rows differ from the writers' models`).toEqual(expected);
    }

    // Once: every change captured at a site is in every other site's inbox exactly once; none recorded or applied twice.
    for (const site of SITES) {
      const c = clients[site];
      for (const origin of SITES) {
        expect(await received(site, origin), `seed ${seed}: ${site}'s inbox, changes from ${origin}`).toBe(
          origin === site ? 0 : captured[origin],
        );
      }
      const { rows } = await c.query<Row>(
        'SELECT updated_by_server_id AS s, origin_change_id AS c, count(*) AS n FROM ds_change_outbox WHERE origin_change_id IS NOT NULL GROUP BY updated_by_server_id, origin_change_id HAVING count(*) > 1',
      );
      expect(rows, `seed ${seed}: ${site} recorded a change twice`).toEqual([]);
      // Own keys are written at one site only: a conflict on one would mean a change applied twice or out of order.
      expect(
        await count(c, "SELECT count(*) FROM ds_change_conflict WHERE object_key NOT LIKE '%shared-%'"),
        `seed ${seed}: ${site} met a conflict on a key only one site writes`,
      ).toBe(0);
      expect(await count(c, 'SELECT count(*) FROM ds_change_error'), `seed ${seed}: ${site} parked a change`).toBe(0);
      expect(await count(c, 'SELECT count(*) FROM ds_change_pending'), `seed ${seed}: ${site} kept a pending update`).toBe(0);
    }
    // The keys-mode site's passes read every note its triggers wrote.
    if (keys) expect(await count(clients[keys], 'SELECT count(*) FROM ds_key_item'), `seed ${seed}: ${keys}'s notes left unread`).toBe(0);
    for (const site of SITES) expect(await stopWithin(daemons[site], 60_000), output()).toBe(0);
  });
});

/** SIGTERM, then the exit code, or 'still running' when the daemon did not exit within `ms` (a shutdown that hangs). */
function stopWithin(daemon: DaemonProcess, ms: number): Promise<number | null | 'still running'> {
  return Promise.race([daemon.stop(), sleep(ms).then(() => 'still running' as const)]);
}

/** Messages of every dsync stream on the server not yet acknowledged by their consumer. */
async function pendingMessages(url: string): Promise<number> {
  const { connect } = await import('@nats-io/transport-node');
  const { jetstreamManager } = await import('@nats-io/jetstream');
  const nc = await connect({ servers: url.replace(/^nats:\/\//, ''), timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc);
    let pending = 0;
    for await (const stream of jsm.streams.names()) {
      for await (const consumer of jsm.consumers.list(stream)) pending += consumer.num_pending + consumer.num_ack_pending;
    }
    return pending;
  } finally {
    await nc.close();
  }
}
