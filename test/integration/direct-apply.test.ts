/**
 * directApply (docs/convergence.md#direct-apply): the transport into a node applies each batch to
 * its tables itself, in one transaction with its mark there, and writes into the inbox only a batch
 * the import must decide (a change that parks or waits), and every batch after it until the import
 * has taken them; a conflict the table's policy resolves is recorded there and then (inbox_id 0).
 * This tries to break what that promises, on real databases, into receive-only replicas here (nodes
 * that keep versions, both ways, in convergence.test.ts and fault-injection.test.ts):
 * - plain changes never touch the inbox (the direct path is the one taken);
 * - a pass that finds the source's pointer set back (a crash between the delivery and the pointer's
 *   save) delivers nothing twice: the mark decides;
 * - two passes of the same program at once deliver each change once;
 * - seeded: random changes upstream and random writes on the replica itself, passes in random order;
 *   under `latest-wins` (even seeds) the conflicts are decided directly, under `manual` (odd seeds)
 *   batches fall back to the inbox, park and come back once retried; the replica ends equal to its
 *   upstream once the upstream has written every row again, with no change overtaking one the inbox
 *   still holds;
 * - under `manual`, a parked row holds its later changes while the other rows go on directly;
 * - into SQLite, whose import merges a backlog on the server: seeded bursts, some large enough to go
 *   through the inbox and some small enough to be applied directly, with the import run or not between
 *   them, odd text among the values; a receive-only replica (odd seeds) is compared after every pass that
 *   applied directly, a node that keeps versions and is written itself (even seeds) at the end.
 * DSYNC_DIRECT_APPLY_SEEDS runs more seeds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DialectName } from '../../src/core/dialect.ts';
import { Daemon } from '../../src/runtime/daemon/daemon.ts';
import { updateRow } from '../../src/runtime/import/dml.ts';
import type { ImportResult } from '../../src/runtime/import/import.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { SERVER_MERGE_AT_LEAST } from '../../src/runtime/import/server-merge.ts';
import { retryAllParkedChanges } from '../../src/runtime/parked.ts';
import { runProgramOnce, runProgramSettled, syncAll } from '../../src/runtime/sync.ts';
import type { DirectTransportResult } from '../../src/runtime/transport/direct-apply.ts';
import { liveDialects } from '../helpers/databases.ts';
import { oddText, random } from '../helpers/random.ts';
import { createTopology, randomOrderLineChange, type Topology, type TopologySpec } from '../helpers/sync-topology.ts';
import { until } from '../helpers/until.ts';

const live = await liveDialects();
const SEEDS = Number(process.env.DSYNC_DIRECT_APPLY_SEEDS ?? 2);

const spec = (s: DialectName, r: DialectName, batchSize = 10, conflict?: 'manual'): TopologySpec => ({
  nodes: { s, r },
  receiveOnly: ['r'],
  directApply: ['r'],
  batchSize,
  ...(conflict ? { conflict } : {}),
  programs: [
    { id: 1000, type: 'transport', from: 's', to: 'r' },
    { id: 1001, type: 'import', node: 'r' },
  ],
});

/** Upstream brand → replica brand, each brand a replica once. */
const PAIRS = (
  [
    ['postgres', 'sqlite'],
    ['sqlite', 'mysql'],
    ['mysql', 'postgres'],
    ['postgres', 'postgres'],
  ] as Array<[DialectName, DialectName]>
).filter((pair) => pair.every((d) => live.includes(d)));

/** Transport passes until none holds a change back (a MariaDB source's horizon waits for every transaction open on its server, another test's included), their counts summed. */
const transport = (topology: Topology, nodes = topology.nodes) =>
  runProgramSettled(topology.config, nodes, topology.config.programs[0]) as Promise<DirectTransportResult>;
/** Import passes until none holds a change back, as transport. */
const importPass = (topology: Topology) =>
  runProgramSettled(topology.config, topology.nodes, topology.config.programs[1]) as Promise<ImportResult>;
const count = (topology: Topology, node: string, sql: string) => topology.count(topology.handles[node].client, sql);
const inboxRows = (topology: Topology) => count(topology, 'r', 'SELECT count(*) FROM ds_change_inbox');

async function insertLines(topology: Topology, order: string, from: number, n: number): Promise<void> {
  const s = topology.handles.s.client;
  const p = s.dialect.sql.param;
  for (let i = from; i < from + n; i++)
    await s.query(`INSERT INTO order_line (order_id, line_no, product, amount) VALUES (${p(1)}, ${p(2)}, ${p(3)}, ${p(4)})`, [
      order,
      i,
      `p${i}`,
      '1.00',
    ]);
}

async function expectEqual(topology: Topology, why: string): Promise<void> {
  const [{ result }] = await topology.compare('order_line');
  expect(result.differences, why).toEqual([]);
  expect(result.differenceCount, why).toBe(0);
}

describe('directApply', () => {
  let topology: Topology | undefined;
  const extra: NodeSet[] = [];
  afterEach(async () => {
    for (const nodes of extra.splice(0)) await nodes.closeAll();
    await topology?.close();
    topology = undefined;
  });

  describe.each(PAIRS)('%s -> directApply %s', (s, r) => {
    it('applies plain changes without the inbox, and a pass that finds the source pointer set back delivers nothing twice', async () => {
      topology = await createTopology(spec(s, r, 7));
      await insertLines(topology, 'o', 0, 30);
      const first = await transport(topology);
      expect(first).toMatchObject({ moved: 30, applied: 30, inboxed: 0 });
      expect(await inboxRows(topology), 'a plain change went through the inbox').toBe(0);
      await expectEqual(topology, 'after the first pass');
      // As after a crash between the mark's commit and the pointer's save: the source's pointer is behind.
      await topology.handles.s.client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
      await insertLines(topology, 'o', 30, 5);
      const restarted = new NodeSet(topology.config);
      extra.push(restarted);
      const again = await transport(topology, restarted);
      expect(again.moved, 'changes delivered before the source pointer was set back were delivered again').toBe(5);
      expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict')).toBe(0);
      expect(await inboxRows(topology)).toBe(0);
      await expectEqual(topology, 'after the pass begun again');
      expect(
        Number(
          (await topology.handles.s.client.query('SELECT last_pointer FROM ds_program_parameter WHERE id = 1000')).rows[0].last_pointer,
        ),
      ).toBe(again.pointer);
      // Set back with nothing new to send: the pass delivers nothing, and the source's pointer catches up with the mark.
      await topology.handles.s.client.query('UPDATE ds_program_parameter SET last_pointer = 0 WHERE id = 1000');
      const idle = new NodeSet(topology.config);
      extra.push(idle);
      expect((await transport(topology, idle)).moved).toBe(0);
      expect(
        Number(
          (await topology.handles.s.client.query('SELECT last_pointer FROM ds_program_parameter WHERE id = 1000')).rows[0].last_pointer,
        ),
        "the source's pointer stayed behind the mark",
      ).toBe(again.pointer);
    }, 60_000);

    it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))(
      'seed %i: writes on the replica meet upstream changes, decided directly or through the inbox, and the replica ends equal',
      async (seed) => {
        const manual = seed % 2 === 1;
        topology = await createTopology(spec(s, r, 1 + (seed % 7), manual ? 'manual' : undefined));
        const rnd = random(seed * 7_919);
        const passes = async () => {
          for (const program of rnd() < 0.5 ? [0, 1] : [1, 0]) {
            if (rnd() < 0.3) continue;
            await runProgramOnce(topology!.config, topology!.nodes, topology!.config.programs[program]);
          }
        };
        for (let step = 0; step < 120; step++) {
          await randomOrderLineChange(topology, 's', rnd, step);
          if (rnd() < 0.15) {
            // A write on the replica itself: the upstream's next change of the row finds it (a conflict).
            const { rows } = await topology.handles.r.client.query('SELECT order_id, line_no FROM order_line');
            if (rows.length > 0) {
              const row = rows[Math.floor(rnd() * rows.length)];
              await updateRow(
                topology.handles.r.client,
                topology.tables.r.order_line,
                { order_id: String(row.order_id), line_no: Number(row.line_no) },
                { product: `replica-${step}` },
              );
            }
          }
          if (step % 6 === 5) await passes();
        }
        /** Everything delivered and imported, and (manual) every parked change retried, as a person would, until none is left. */
        const settle = async () => {
          for (let round = 0; ; round++) {
            expect((await syncAll(topology!.config, topology!.nodes)).heldBack, `seed ${seed}`).toBe(0);
            const { retried, failed } = await retryAllParkedChanges(topology!.config, topology!.nodes, { node: 'r' });
            expect(failed, `seed ${seed}: a retry failed`).toEqual([]);
            if (retried.length === 0) return;
            expect(round, `seed ${seed}: still parking after ${round} rounds`).toBeLessThan(10);
          }
        };
        await settle();
        // Every row written again upstream: whatever the replica wrote itself is overwritten.
        await topology.handles.s.client.query("UPDATE order_line SET product = 'final', amount = '9.00'");
        await settle();
        await expectEqual(topology, `seed ${seed}: the replica differs from its upstream`);
        expect(
          await count(topology, 'r', "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')"),
          `seed ${seed}: parked`,
        ).toBe(0);
        const inbox = await inboxRows(topology);
        if (manual) {
          // Whatever pass delivered them (a random one or the final sync's), the replica's writes parked changes, through the inbox.
          expect(inbox, `seed ${seed}: no batch went through the inbox (the replica's writes met no change)`).toBeGreaterThan(0);
        } else {
          const direct = await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict WHERE inbox_id = 0');
          expect(direct, `seed ${seed}: no conflict was decided by the direct apply`).toBeGreaterThan(0);
        }
        // Back to (or still on) the direct path once the import has taken the inbox.
        await insertLines(topology, 'after', 0, 3);
        expect(await transport(topology), `seed ${seed}`).toMatchObject({ applied: 3, inboxed: 0 });
        expect(await inboxRows(topology), `seed ${seed}: the direct path did not come back`).toBe(inbox);
        await expectEqual(topology, `seed ${seed}: after the direct path came back`);
      },
      120_000,
    );

    it('under manual, a parked row holds its later changes in the inbox while the other rows go on directly', async () => {
      topology = await createTopology(spec(s, r, 50, 'manual'));
      await insertLines(topology, 'o', 0, 3);
      await transport(topology);
      const key = { order_id: 'o', line_no: 1 };
      await updateRow(topology.handles.r.client, topology.tables.r.order_line, key, { product: 'replica' });
      const sc = topology.handles.s.client;
      const p = sc.dialect.sql.param;
      const setProduct = (line: number, product: string) =>
        sc.query(`UPDATE order_line SET product = ${p(1)} WHERE order_id = 'o' AND line_no = ${p(2)}`, [product, line]);
      await setProduct(1, 'upstream 1');
      expect(await transport(topology), 'a conflicting change was applied directly').toMatchObject({ applied: 0, inboxed: 1 });
      // Not imported yet: a later change of any row waits behind the inbox, in arrival order.
      await setProduct(2, 'upstream 2');
      expect(await transport(topology), 'a change overtook one the inbox holds').toMatchObject({ applied: 0, inboxed: 1 });
      await importPass(topology);
      expect(await count(topology, 'r', "SELECT count(*) FROM ds_change_error WHERE status = 'open'")).toBe(1);
      // The parked row's next change parks behind it; another row's goes on directly.
      await setProduct(1, 'upstream 1 again');
      expect(await transport(topology), 'a change of a parked row was applied directly').toMatchObject({ applied: 0, inboxed: 1 });
      await importPass(topology);
      expect(await count(topology, 'r', "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')")).toBe(2);
      await setProduct(0, 'upstream 0');
      expect(await transport(topology), 'a change of a free row did not go on directly').toMatchObject({ applied: 1, inboxed: 0 });
      const { rows } = await topology.handles.r.client.query(
        "SELECT line_no, product FROM order_line WHERE order_id = 'o' ORDER BY line_no",
      );
      expect(rows.map((row) => [Number(row.line_no), row.product])).toEqual([
        [0, 'upstream 0'],
        [1, 'replica'],
        [2, 'upstream 2'],
      ]);
    }, 60_000);
  });

  it.runIf(PAIRS.length > 0)(
    'under dsync run, applies directly, and a batch it leaves to the inbox wakes the import',
    async () => {
      const [s, r] = PAIRS[PAIRS.length - 1];
      topology = await createTopology(spec(s, r, 20, 'manual'));
      const stop = new AbortController();
      const daemon = new Daemon(topology.config, { signal: stop.signal, log: () => undefined });
      const running = daemon.run();
      const equal = async () => (await topology!.compare('order_line'))[0].result.differenceCount === 0;
      const lines = async (n: number) => (await count(topology!, 'r', 'SELECT count(*) FROM order_line')) === n;
      try {
        await insertLines(topology, 'o', 0, 25);
        expect(await until(async () => (await lines(25)) && (await equal()))).toBe(true);
        expect(await inboxRows(topology), 'a plain change went through the inbox').toBe(0);
        // A write on the replica, then the upstream's change of the row: under manual it parks, so the inbox takes it and the woken import parks it.
        await updateRow(topology.handles.r.client, topology.tables.r.order_line, { order_id: 'o', line_no: 3 }, { product: 'replica' });
        await topology.handles.s.client.query("UPDATE order_line SET product = 'upstream' WHERE order_id = 'o' AND line_no = 3");
        const parked = () => count(topology!, 'r', "SELECT count(*) FROM ds_change_error WHERE status = 'open'");
        expect(await until(async () => (await parked()) === 1)).toBe(true);
        expect(await inboxRows(topology)).toBe(1);
        await insertLines(topology, 'o', 25, 5);
        expect(await until(() => lines(30))).toBe(true);
        expect(await inboxRows(topology), 'the direct path did not come back under the daemon').toBe(1);
        await retryAllParkedChanges(topology.config, topology.nodes, { node: 'r' });
        expect(await until(equal)).toBe(true);
      } finally {
        stop.abort();
        await running;
      }
    },
    90_000,
  );

  it.runIf(live.includes('postgres') && live.includes('sqlite'))(
    'into SQLite, whose import merges a backlog on the server, a backlog goes through the inbox and a small batch directly; DSYNC_SERVER_MERGE=off applies it directly',
    async () => {
      const said = process.env.DSYNC_SERVER_MERGE;
      try {
        for (const merge of ['on', 'off']) {
          process.env.DSYNC_SERVER_MERGE = merge;
          topology = await createTopology({ ...spec('postgres', 'sqlite', 500), receiveOnly: [] });
          const backlog = SERVER_MERGE_AT_LEAST + 36;
          await insertLines(topology, 'o', 0, backlog);
          await topology.handles.s.client.query("UPDATE order_line SET product = 'again' WHERE line_no % 3 = 0");
          const changes = backlog + Math.ceil(backlog / 3);
          const first = await transport(topology);
          expect(first, `server merge ${merge}`).toMatchObject(
            merge === 'on' ? { applied: 0, inboxed: changes } : { applied: changes, inboxed: 0 },
          );
          // Before the import has taken the backlog, a small batch must not overtake it: it follows into the inbox.
          await insertLines(topology, 'behind', 0, 2);
          expect(await transport(topology), `server merge ${merge}: a small batch overtook the inbox`).toMatchObject(
            merge === 'on' ? { applied: 0, inboxed: 2 } : { applied: 2, inboxed: 0 },
          );
          expect((await importPass(topology)).applied, `server merge ${merge}: the import's share`).toBe(merge === 'on' ? changes + 2 : 0);
          await expectEqual(topology, `server merge ${merge}, after the backlog`);
          // A batch too small for the server merge is applied directly either way.
          await insertLines(topology, 'small', 0, 5);
          expect(await transport(topology), `server merge ${merge}`).toMatchObject({ applied: 5, inboxed: 0 });
          await expectEqual(topology, `server merge ${merge}, after the small batch`);
          await topology.close();
          topology = undefined;
        }
      } finally {
        if (said === undefined) delete process.env.DSYNC_SERVER_MERGE;
        else process.env.DSYNC_SERVER_MERGE = said;
      }
    },
    60_000,
  );

  it.runIf(live.includes('postgres') && live.includes('sqlite'))(
    'into SQLite, a pass of SERVER_MERGE_AT_LEAST - 1 changes is applied directly and one of SERVER_MERGE_AT_LEAST goes through the inbox',
    async () => {
      topology = await createTopology({ ...spec('postgres', 'sqlite', 500), receiveOnly: [] });
      await insertLines(topology, 'below', 0, SERVER_MERGE_AT_LEAST - 1);
      expect(await transport(topology)).toMatchObject({ applied: SERVER_MERGE_AT_LEAST - 1, inboxed: 0 });
      await insertLines(topology, 'at', 0, SERVER_MERGE_AT_LEAST);
      expect(await transport(topology)).toMatchObject({ applied: 0, inboxed: SERVER_MERGE_AT_LEAST });
      expect((await importPass(topology)).applied).toBe(SERVER_MERGE_AT_LEAST);
      await expectEqual(topology, 'after both passes');
    },
    60_000,
  );

  it.runIf(live.includes('postgres') && live.includes('sqlite'))(
    'into SQLite that forwards (no server merge there), a first batch of more than SERVER_MERGE_AT_LEAST changes is applied whole',
    async () => {
      topology = await createTopology({
        nodes: { s: 'postgres', r: 'sqlite', t: 'postgres' },
        directApply: ['r'],
        batchSize: 500,
        programs: [
          { id: 1000, type: 'transport', from: 's', to: 'r' },
          { id: 1001, type: 'import', node: 'r' },
          { id: 1002, type: 'transport', from: 'r', to: 't' },
          { id: 1003, type: 'import', node: 't' },
        ],
      });
      const lines = SERVER_MERGE_AT_LEAST + 36;
      await insertLines(topology, 'o', 0, lines);
      // The first batch read with the horizon is cut at SERVER_MERGE_AT_LEAST rows; a node that forwards applies it here, read whole.
      expect(await transport(topology)).toMatchObject({ moved: lines, applied: lines, inboxed: 0 });
      expect(await inboxRows(topology)).toBe(0);
      await expectEqual(topology, 'after the pass');
    },
    60_000,
  );

  /** Upstream brands of the seeded SQLite runs below: seed i takes the i-th, round robin. */
  const burstSources = (['postgres', 'mysql'] as DialectName[]).filter((d) => live.includes(d));
  it.runIf(live.includes('sqlite') && burstSources.length > 0).each(Array.from({ length: SEEDS }, (_, i) => i + 1))(
    'seed %i: into SQLite, bursts that reach the server merge (inbox) mixed with small ones (direct) end equal, nothing parked',
    async (seed) => {
      // Odd seeds: a receive-only replica under manual, which keeps no versions: a change that overtook an older
      // one the inbox held would be overwritten by it, and the replica would differ. Even seeds: a node that keeps
      // versions, under latest-wins, with writes on the node itself.
      const manual = seed % 2 === 1;
      const source = burstSources[(seed - 1) % burstSources.length];
      const rnd = random(seed * 15_485_863);
      const batchSize = SERVER_MERGE_AT_LEAST + Math.floor(rnd() * 100);
      topology = await createTopology({
        ...spec(source, 'sqlite', batchSize, manual ? 'manual' : undefined),
        receiveOnly: manual ? ['r'] : [],
      });
      const why = `seed ${seed} (${source} -> sqlite ${manual ? 'replica, manual' : 'keeps versions, latest-wins'}, batch ${batchSize})`;
      const sums = { applied: 0, inboxed: 0 };
      const settle = async () => {
        const transported = await transport(topology!);
        sums.applied += transported.applied;
        sums.inboxed += transported.inboxed;
        expect((await syncAll(topology!.config, topology!.nodes)).heldBack, why).toBe(0);
      };
      let step = 0;
      for (let round = 0; round < 20; round++) {
        const burst = rnd() < 0.5 ? 1 + Math.floor(rnd() * 30) : SERVER_MERGE_AT_LEAST + 16 + Math.floor(rnd() * 120);
        for (let i = 0; i < burst; i++) {
          if (rnd() < 0.15) {
            // Odd text (COPY's escapes, control characters, non-BMP) through the road the batch takes: a value bent there differs.
            const p = topology.handles.s.client.dialect.sql.param;
            await topology.handles.s.client.query(
              `UPDATE order_line SET product = ${p(1)} WHERE order_id = ${p(2)} AND line_no = ${p(3)}`,
              [`${oddText(rnd, 12)}.${step++}`, `o${Math.floor(rnd() * 4)}`, Math.floor(rnd() * 5)],
            );
          } else await randomOrderLineChange(topology, 's', rnd, step++);
        }
        if (!manual && rnd() < 0.5) {
          const { rows } = await topology.handles.r.client.query('SELECT order_id, line_no FROM order_line');
          for (const row of rows.filter(() => rnd() < 0.2))
            await updateRow(
              topology.handles.r.client,
              topology.tables.r.order_line,
              { order_id: String(row.order_id), line_no: Number(row.line_no) },
              { product: `node-${round}` },
            );
        }
        // The transport, then at times the import (otherwise the inbox still holds a backlog when the next burst comes).
        let applied = 0;
        if (rnd() < 0.9) {
          const result = (await runProgramOnce(topology.config, topology.nodes, topology.config.programs[0])) as DirectTransportResult;
          sums.applied += result.applied;
          sums.inboxed += result.inboxed;
          applied = result.applied;
        }
        if (rnd() < 0.4) await runProgramOnce(topology.config, topology.nodes, topology.config.programs[1]);
        // After a batch applied directly (had it overtaken a backlog the inbox held, the import would now put older values
        // back), and now and then: everything delivered and imported, and compared.
        if (manual && (applied > 0 || rnd() < 0.2)) {
          await settle();
          await expectEqual(topology, `${why}, round ${round}`);
          expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_error'), `${why}, round ${round}: parked`).toBe(0);
          expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict'), `${why}, round ${round}: a conflict`).toBe(0);
        }
      }
      await settle();
      if (manual) {
        expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_error'), `${why}: parked`).toBe(0);
        expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict'), `${why}: a conflict`).toBe(0);
      } else {
        // Every row written again upstream: whatever the node wrote itself is overwritten.
        await topology.handles.s.client.query("UPDATE order_line SET product = 'final', amount = '9.00'");
        await settle();
        expect(
          await count(topology, 'r', "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')"),
          `${why}: parked`,
        ).toBe(0);
      }
      await expectEqual(topology, `${why}: the node differs from its upstream`);
      expect(sums.inboxed, `${why}: no backlog went through the inbox`).toBeGreaterThan(0);
      expect(sums.applied, `${why}: no small batch was applied directly`).toBeGreaterThan(0);
    },
    180_000,
  );

  it.runIf(live.includes('postgres'))(
    'two passes of the same program at once deliver each change once',
    async () => {
      for (const seed of [1, 2, 3]) {
        topology = await createTopology(spec('postgres', 'postgres', 5 + seed * 3));
        const rnd = random(seed * 104_729);
        const total = 80 + Math.floor(rnd() * 80);
        await insertLines(topology, 'o', 0, total);
        const others = [new NodeSet(topology.config), new NodeSet(topology.config)];
        extra.push(...others);
        let moved = 0;
        for (let round = 0; round < 50 && moved < total; round++) {
          const results = await Promise.all(others.map((nodes) => transport(topology!, nodes)));
          moved += results.reduce((sum, result) => sum + result.moved, 0);
        }
        expect(moved, `seed ${seed}: changes delivered by the two passes`).toBe(total);
        expect(await inboxRows(topology), `seed ${seed}`).toBe(0);
        expect(await count(topology, 'r', 'SELECT count(*) FROM ds_change_conflict'), `seed ${seed}: a change applied twice`).toBe(0);
        await expectEqual(topology, `seed ${seed}`);
        for (const nodes of extra.splice(0)) await nodes.closeAll();
        await topology.close();
        topology = undefined;
      }
    },
    120_000,
  );
});
