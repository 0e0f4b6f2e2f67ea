/**
 * A receive-only node (docs/convergence.md#receive-only-nodes) captures nothing and its import
 * keeps no version entries: each change applies in arrival order, its clocks dropped. That is
 * right only with one upstream that imports nothing, and this tries to break it on real
 * databases of three brands, each brand in each place once:
 * - seeded random changes on the upstream, single-row and set-wise, keys reused after deletes
 *   (causal lengths above 1) and changed, passes in random order with a random batch size;
 * - odd seeds load the replica from the upstream halfway, on connections of their own, while
 *   the upstream takes writes and the transport and import run (the load's row locks, rule 4);
 * - a write made on the replica itself is overwritten by the upstream's next change of the row
 *   and logged as a conflict.
 * - a load's chunk raced on purpose: between its read of the upstream and its write, a change of
 *   a row in the chunk is captured, sent and imported. The chunk's lock on the replica's rows
 *   must hold that import back, or the chunk overwrites it with the older copy.
 * The replica must end equal to the upstream, nothing parked or pending, no outbox row, and no
 * version entry but what a load wrote. Each pair runs also with `directApply` (the transport applies
 * what arrives, the inbox takes only what the import must decide: the load's replays, the conflict).
 * DSYNC_RECEIVE_ONLY_SEEDS runs more seeds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, QueryResult, Row } from '../../src/core/dialect.ts';
import { captureChange } from '../../src/runtime/capture/capture-api.ts';
import { insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { runProgramOnce, syncAll } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createTopology, randomOrderLineChange, type Topology, type TopologySpec } from '../helpers/sync-topology.ts';

const live = await liveDialects();
const SEEDS = Number(process.env.DSYNC_RECEIVE_ONLY_SEEDS ?? 2);
const OPS = 160;

const pair = (s: DialectName, r: DialectName, batchSize: number, direct = false): [string, TopologySpec] => [
  `${s} -> receive-only ${r}${direct ? ', direct apply' : ''}`,
  {
    nodes: { s, r },
    receiveOnly: ['r'],
    ...(direct ? { directApply: ['r'] } : {}),
    batchSize,
    programs: [
      { id: 1000, type: 'transport', from: 's', to: 'r' },
      { id: 1001, type: 'import', node: 'r' },
    ],
  },
];
const PAIRS = [
  pair('postgres', 'sqlite', 7),
  pair('sqlite', 'mysql', 40),
  pair('mysql', 'postgres', 13),
  pair('postgres', 'postgres', 25),
  // The transport applies what arrives itself (docs/convergence.md#direct-apply): the same promises.
  pair('postgres', 'sqlite', 11, true),
  pair('sqlite', 'mysql', 40, true),
  pair('mysql', 'postgres', 13, true),
  pair('postgres', 'postgres', 25, true),
].filter(([, spec]) => Object.values(spec.nodes).every((d) => live.includes(d)));

const count = (topology: Topology, node: string, sql: string) => topology.count(topology.handles[node].client, sql);

async function expectEqual(topology: Topology, seed: number, when: string): Promise<void> {
  const report = await syncAll(topology.config, topology.nodes);
  expect(report.heldBack, `seed ${seed}: rows still held back ${when}`).toBe(0);
  const [{ result }] = await topology.compare('order_line');
  expect(result.differences, `seed ${seed}: r differs from s ${when}`).toEqual([]);
  expect(result.differenceCount, `seed ${seed}: ${when}`).toBe(0);
  expect(
    await count(topology, 'r', "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')"),
    `seed ${seed}: r parked a change`,
  ).toBe(0);
  expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_pending'), `seed ${seed}: r kept a pending update`).toBe(0);
  expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_outbox'), `seed ${seed}: r captured something`).toBe(0);
}

describe('receive-only nodes', () => {
  let topology: Topology | undefined;
  const extra: NodeSet[] = [];
  afterEach(async () => {
    for (const nodes of extra.splice(0)) await nodes.closeAll();
    await topology?.close();
    topology = undefined;
  });
  const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);

  describe.each(PAIRS)('%s', (_, spec) => {
    it.each(seeds)(
      'seed %i: the replica ends equal to its upstream, a load halfway or not, and keeps no versions of its own',
      async (seed) => {
        topology = await createTopology(spec);
        const rnd = random(seed * 92_821);
        const withLoad = seed % 2 === 1;
        const passes = async () => {
          for (const program of topology!.config.programs) {
            if (rnd() >= 0.6) continue;
            try {
              await runProgramOnce(topology!.config, topology!.nodes, program);
            } catch (error) {
              // A pass that met the load's lock (SQLite's one writer): the daemon's next pass takes it up again, as here.
              if (!Object.values(topology!.handles).some((h) => h.dialect.isTransient(error))) throw error;
            }
          }
        };
        let loading: Promise<unknown> | null = null;
        let loaded = false;
        for (let step = 0; step < OPS || (loading && !loaded); step++) {
          await randomOrderLineChange(topology, 's', rnd, step);
          if (step % 10 === 9) await passes();
          if (withLoad && step === OPS / 2) {
            // Its own connections: the load's chunks run beside the import's batches and the upstream's writes.
            const own = new NodeSet(topology.config);
            extra.push(own);
            const [source, target] = [await own.get('s'), await own.get('r')];
            loading = loadNodes(topology.config, source, target, ['order_line'], { chunkRows: 3 }).then(() => {
              loaded = true;
            });
          }
        }
        await loading;
        await expectEqual(topology, seed, 'after the run');
        if (!withLoad) {
          expect(await count(topology, 'r', 'SELECT count(*) FROM ds_row_version'), `seed ${seed}: r's import wrote version entries`).toBe(
            0,
          );
        }
        expect(await count(topology, 's', 'SELECT count(*) FROM order_line'), `seed ${seed}: the run left no rows`).toBeGreaterThan(0);

        // A write on the replica itself: not captured, and the upstream's next change of the row overwrites it.
        const table = topology.tables.r.order_line;
        const p = topology.handles.s.client.dialect.sql.param;
        const { rows } = await topology.handles.s.client.query(`SELECT order_id, line_no FROM order_line ORDER BY order_id, line_no`);
        const key = { order_id: String(rows[0].order_id), line_no: Number(rows[0].line_no) };
        await updateRow(topology.handles.r.client, table, key, { product: 'written on the replica', amount: '1.00' });
        const conflicts = await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict');
        await topology.handles.s.client.query(
          `UPDATE order_line SET product = ${p(1)}, amount = ${p(2)} WHERE order_id = ${p(3)} AND line_no = ${p(4)}`,
          ['upstream again', '2.00', key.order_id, key.line_no],
        );
        await expectEqual(topology, seed, 'after a write on the replica');
        expect(
          await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict'),
          `seed ${seed}: the replica's own write was not logged`,
        ).toBe(conflicts + 1);
      },
      240_000,
    );
  });

  describe.each(PAIRS)('%s, a load chunk raced', (_, spec) => {
    it("an import between the chunk's read of the upstream and its write waits for the chunk", async () => {
      topology = await createTopology({ ...spec, batchSize: 500 });
      const { handles, tables, config } = topology;
      const s = handles.s.client;
      const p = s.dialect.sql.param;
      for (let i = 0; i < 30; i++) await insertRow(s, tables.s.order_line, { order_id: 'o', line_no: i, product: `p${i}`, amount: '1.00' });
      await expectEqual(topology, 0, 'before the load');
      // The replica lags: these updates are captured, not yet sent; the load's chunks will find its rows older than the copy.
      await s.query(`UPDATE order_line SET amount = ${p(1)}`, ['2.00']);
      const syncOnce = async () => {
        for (const program of config.programs) await runProgramOnce(config, topology!.nodes, program);
      };
      let racing: Promise<void> | null = null;
      let raced: string | null = null;
      const own = new NodeSet(config);
      extra.push(own);
      const source = await own.get('s');
      // The load's reads of the upstream's rows (the whole row: product is in it); after the first, a change of its first row travels.
      const query = async <T extends Row>(sql: string, params?: readonly unknown[]): Promise<QueryResult<T>> => {
        const result = await source.client.query<T>(sql, params);
        if (raced === null && /\bproduct\b/.test(sql) && /order_line/.test(sql) && result.rows.length > 0) {
          raced = `raced ${Number(result.rows[0].line_no)}`;
          // amount too: the chunk writes the columns its copy has newer than the replica's row, amount among them.
          await s.query(`UPDATE order_line SET product = ${p(1)}, amount = ${p(2)} WHERE order_id = 'o' AND line_no = ${p(3)}`, [
            raced,
            '3.00',
            Number(result.rows[0].line_no),
          ]);
          // SQLite's one writer: in this one process the import's busy wait blocks the chunk too and gives up (transient); the next pass applies it.
          racing = syncOnce().catch((error) => {
            if (!handles.r.dialect.isTransient(error)) throw error;
          });
          // The import either finishes (no lock held it) or waits on the chunk's lock, which this wait must not close.
          await Promise.race([racing, new Promise((resolve) => setTimeout(resolve, 1500))]);
        }
        return result;
      };
      const client = new Proxy(source.client, {
        get: (target, name) => (name === 'query' ? query : Reflect.get(target, name, target)),
      }) as DbClient;
      await loadNodes(config, { ...source, client }, await own.get('r'), ['order_line'], { chunkRows: 10, noOverlap: true });
      expect(raced, 'the load read no row of the upstream').not.toBeNull();
      await racing;
      await expectEqual(topology, 0, `after the raced load (${raced})`);
    }, 60_000);
  });

  it("refuses a load from it, a load into it from another node than its upstream, and the library's capture on it", async () => {
    topology = await createTopology({
      nodes: { s: 'sqlite', r: 'sqlite', x: 'sqlite' },
      receiveOnly: ['r'],
      programs: [
        { id: 1000, type: 'transport', from: 's', to: 'r' },
        { id: 1001, type: 'import', node: 'r' },
      ],
    });
    const { config, handles } = topology;
    await expect(loadNodes(config, handles.r, handles.x, ['order_line'])).rejects.toThrow(
      /^node r is receiveOnly and keeps no versions: load x from the node that feeds r$/,
    );
    await expect(loadNodes(config, handles.x, handles.r, ['order_line'])).rejects.toThrow(
      /^node r is receiveOnly and fed by s: load it from s, not x$/,
    );
    await expect(
      captureChange(
        handles.r.client,
        { table: 'order_line', operation: 'I', key: { order_id: 'o', line_no: 1 }, values: { product: 'p' } },
        {
          node: handles.r.node,
        },
      ),
    ).rejects.toThrow(/^node r is receiveOnly: nothing is captured there; write to its upstream, or remove "receiveOnly" from nodes\.r /);
    expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_outbox')).toBe(0);
    await loadNodes(config, handles.s, handles.r, ['order_line']);
  });

  it('refuses a load into it of a table whose conflict policy is manual, before it writes anything', async () => {
    topology = await createTopology({
      nodes: { s: 'sqlite', r: 'sqlite' },
      receiveOnly: ['r'],
      conflict: 'manual',
      programs: [
        { id: 1000, type: 'transport', from: 's', to: 'r' },
        { id: 1001, type: 'import', node: 'r' },
      ],
    });
    const { config, handles } = topology;
    await handles.s.client.query("INSERT INTO order_line (order_id, line_no, product, amount) VALUES ('o', 1, 'p', '1.00')");
    const i = config.tables.findIndex((t) => t.name === 'order_line');
    await expect(loadNodes(config, handles.s, handles.r, ['order_line'], { dryRun: true })).rejects.toThrow(
      `table order_line has conflict policy manual, which would park the changes a load into receiveOnly node r replays (its copy already holds them); set tables[${i}].conflict to "latest-wins" (or "source-wins") for the load`,
    );
    await expect(loadNodes(config, handles.s, handles.r, ['order_line'])).rejects.toThrow(/conflict policy manual/);
    expect(await count(topology, 'r', 'SELECT count(*) FROM order_line')).toBe(0);
    expect(await count(topology, 'r', 'SELECT count(*) FROM ds_load_state')).toBe(0);
  });
});
