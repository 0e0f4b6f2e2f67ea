/**
 * A send-only node (docs/convergence.md#send-only-nodes) keeps no version store, and its
 * outbox rows carry no causal length or clock; what it sends must still arrive whole.
 * Seeded random changes, single-row and set-wise, keys reused after deletes and changed,
 * on real databases of three brands:
 * - a chain s → t → u (s send-only, t forwarding), each brand in each place once, with a
 *   `dsync load` of t from s and of u from t halfway: t and u must end equal to s;
 * - s → h, with h and p two-way: s, h and p all write; h and p must converge.
 * - four sessions writing a send-only MariaDB node concurrently, transactions held open and
 *   some rolled back, the transport and import running all along (its rows skip the fence
 *   read since upgrade step 20): t must end equal to s (guarantee 1).
 * None may leave a change parked or pending. DSYNC_SEND_ONLY_SEEDS runs more seeds.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DbClient, DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { loadNodes } from '../../src/runtime/load/load.ts';
import { runProgramOnce, syncAll } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createTopology, randomOrderLineChange, type Topology, type TopologySpec } from '../helpers/sync-topology.ts';

const live = await liveDialects();
const SEEDS = Number(process.env.DSYNC_SEND_ONLY_SEEDS ?? 2);
const OPS = 150;

const chain = (s: DialectName, t: DialectName, u: DialectName): [string, TopologySpec] => [
  `chain ${s} -> ${t} -> ${u}`,
  {
    nodes: { s, t, u },
    sendOnly: ['s'],
    programs: [
      { id: 1000, type: 'transport', from: 's', to: 't' },
      { id: 1001, type: 'import', node: 't' },
      { id: 1002, type: 'transport', from: 't', to: 'u' },
      { id: 1003, type: 'import', node: 'u' },
    ],
  },
];
const CHAINS = [chain('postgres', 'sqlite', 'mysql'), chain('sqlite', 'mysql', 'postgres'), chain('mysql', 'postgres', 'sqlite')];
const HUB: [string, TopologySpec] = [
  'send-only SQLite -> PostgreSQL hub <-> MariaDB',
  {
    nodes: { h: 'postgres', p: 'mysql', s: 'sqlite' },
    sendOnly: ['s'],
    programs: [{ id: 900, type: 'transport', from: 's', to: 'h' }],
    links: [{ between: ['h', 'p'] }],
  },
];
const usable = (list: Array<[string, TopologySpec]>) => list.filter(([, spec]) => Object.values(spec.nodes).every((d) => live.includes(d)));

async function count(topology: Topology, node: string, sql: string): Promise<number> {
  return topology.count(topology.handles[node].client, sql);
}

/** Nothing parked or pending on any node; the send-only node wrote no entry and no versions. */
async function checkClean(topology: Topology, seed: number): Promise<void> {
  for (const name of Object.keys(topology.handles)) {
    expect(
      await count(topology, name, "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')"),
      `seed ${seed}: ${name} parked a change`,
    ).toBe(0);
    expect(await count(topology, name, 'SELECT count(*) FROM ds_change_pending'), `seed ${seed}: ${name} kept a pending update`).toBe(0);
  }
  expect(await count(topology, 's', 'SELECT count(*) FROM ds_row_version'), `seed ${seed}: the send-only node kept versions`).toBe(0);
  const { rows } = await topology.handles.s.client.query<Row>(
    'SELECT count(*) AS n, count(row_cl) AS cl, count(row_cl_old) AS cl_old, count(change_version) AS v FROM ds_change_outbox',
  );
  expect(
    rows.map((r) => [Number(r.n) > 0, Number(r.cl), Number(r.cl_old), Number(r.v)]),
    `seed ${seed}: the send-only node's outbox`,
  ).toEqual([[true, 0, 0, 0]]);
}

async function randomPasses(topology: Topology, rnd: () => number): Promise<void> {
  for (const program of topology.config.programs) if (rnd() < 0.5) await runProgramOnce(topology.config, topology.nodes, program);
}

describe('send-only nodes', () => {
  let topology: Topology | undefined;
  afterEach(async () => {
    await topology?.close();
    topology = undefined;
  });
  const seeds = Array.from({ length: SEEDS }, (_, i) => i + 1);

  describe.each(usable(CHAINS))('%s', (_, spec) => {
    it.each(seeds)(
      'seed %i: what the send-only node writes arrives whole, forwarded too',
      async (seed) => {
        topology = await createTopology(spec);
        const rnd = random(seed * 104_729);
        for (let step = 0; step < OPS; step++) {
          await randomOrderLineChange(topology, 's', rnd, step);
          if (step % 20 === 19) await randomPasses(topology, rnd);
          // Loads halfway, t from s (s has no entries to give), then u from t: what a load writes is not forwarded
          // (docs/onboarding.md), so a chain is loaded link by link. What they copy and what the outboxes bring must agree.
          if (step === OPS / 2) {
            await loadNodes(topology.config, topology.handles.s, topology.handles.t, ['order_line']);
            await loadNodes(topology.config, topology.handles.t, topology.handles.u, ['order_line']);
          }
        }
        const report = await syncAll(topology.config, topology.nodes);
        expect(report.heldBack, `seed ${seed}: rows still held back`).toBe(0);
        for (const { node, result } of await topology.compare('order_line')) {
          expect(result.differences, `seed ${seed}: ${node} differs from s`).toEqual([]);
          expect(result.differenceCount, `seed ${seed}: ${node}`).toBe(0);
        }
        expect(await count(topology, 's', 'SELECT count(*) FROM order_line'), `seed ${seed}: the run left no rows`).toBeGreaterThan(0);
        await checkClean(topology, seed);
      },
      240_000,
    );
  });

  describe.each(usable([HUB]))('%s', (_, spec) => {
    it.each(seeds)(
      'seed %i: the two-way pair converges while the send-only node feeds one side',
      async (seed) => {
        topology = await createTopology(spec);
        const rnd = random(seed * 7_757);
        const writers = ['s', 'h', 'p'];
        for (let step = 0; step < OPS * 2; step++) {
          await randomOrderLineChange(topology, writers[Math.floor(rnd() * writers.length)], rnd, step);
          if (step % 20 === 19) await randomPasses(topology, rnd);
        }
        const report = await syncAll(topology.config, topology.nodes);
        expect(report.heldBack, `seed ${seed}: rows still held back`).toBe(0);
        const [peer] = await topology.compare('order_line');
        expect(peer.node).toBe('p');
        expect(peer.result.differences, `seed ${seed}: p differs from h`).toEqual([]);
        expect(peer.result.differenceCount, `seed ${seed}`).toBe(0);
        expect(
          await count(topology, 'h', "SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 'server-s'"),
          `seed ${seed}`,
        ).toBeGreaterThan(0);
        expect(
          await count(topology, 'p', "SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = 'server-s'"),
          `seed ${seed}: nothing of s's was forwarded`,
        ).toBeGreaterThan(0);
        await checkClean(topology, seed);
      },
      240_000,
    );
  });

  // Guarantee 1 where upgrade step 20 lets a send-only capture's outbox row skip MariaDB's fence read:
  // writers whose transactions hold outbox ids open while others commit, some rolled back, and the
  // transport and import running all along. A committed change passed over would be missing at t.
  describe.skipIf(!live.includes('mysql') || !live.includes('postgres'))('send-only MariaDB with concurrent writers -> PostgreSQL', () => {
    const spec: TopologySpec = {
      nodes: { s: 'mysql', t: 'postgres' },
      sendOnly: ['s'],
      programs: [
        { id: 1000, type: 'transport', from: 's', to: 't' },
        { id: 1001, type: 'import', node: 't' },
      ],
    };
    it.each(seeds)(
      'seed %i: changes committed late arrive, rolled-back ones stall nothing, none is skipped',
      async (seed) => {
        topology = await createTopology(spec);
        const { handles, tables } = topology;
        const rnd = random(seed * 31_337);
        const table = tables.s.order_line;
        // Each writer its own order (no lock waits between writers); its transactions planned from the seed, timing left free.
        const plans = [0, 1, 2, 3].map((w) =>
          Array.from({ length: 20 }, (_, k) => ({
            rollback: rnd() < 0.2,
            ops: Array.from({ length: 1 + Math.floor(rnd() * 3) }, (_, i) => ({
              roll: rnd(),
              key: { order_id: `w${w}`, line_no: Math.floor(rnd() * 6) },
              pause: Math.floor(rnd() * 15),
              value: `w${w}-${k}-${i}`,
            })),
          })),
        );
        const sessions = await Promise.all(plans.map(() => handles.s.dialect.connect(handles.s.node.url, 's')));
        let writing = true;
        let movedWhileWriting = 0;
        // The plan again (up to 4 rounds) until the transport has moved something meanwhile: MariaDB's horizon waits
        // for every transaction of the server, and other suites share it.
        const write = async (session: DbClient, plan: (typeof plans)[number]) => {
          for (let round = 0; round < 4 && (round === 0 || movedWhileWriting === 0); round++)
            for (const txn of plan) {
              await session
                .transaction(async (tx) => {
                  for (const op of txn.ops) {
                    const value = `${op.value}-${round}`;
                    if (op.roll < 0.45) await insertRow(tx, table, { ...op.key, product: value, amount: op.key.line_no });
                    else if (op.roll < 0.8) await updateRow(tx, table, op.key, { product: value });
                    else await deleteRow(tx, table, op.key);
                    await new Promise((r) => setTimeout(r, op.pause));
                  }
                  if (txn.rollback) throw new Error('rolled back on purpose');
                })
                .catch(() => undefined); // a duplicate key rolls the transaction back too
            }
        };
        try {
          const moving = (async () => {
            while (writing)
              for (const program of topology!.config.programs) {
                const result = await runProgramOnce(topology!.config, topology!.nodes, program);
                if ('moved' in result) movedWhileWriting += result.moved;
              }
          })();
          await Promise.all(plans.map((plan, i) => write(sessions[i], plan))).finally(() => {
            writing = false;
          });
          await moving;
        } finally {
          for (const session of sessions) await session.close().catch(() => undefined);
        }
        // Not asserted (see the rounds above); said, since then only the final sync moved anything.
        if (movedWhileWriting === 0)
          console.log(`send-only concurrent seed ${seed}: nothing moved while the writers wrote (the server was busy)`);
        const report = await syncAll(topology.config, topology.nodes);
        expect(report.heldBack, `seed ${seed}: rows still held back`).toBe(0);
        const [target] = await topology.compare('order_line');
        expect(target.result.differences, `seed ${seed}: t differs from s`).toEqual([]);
        expect(await count(topology, 's', 'SELECT count(*) FROM order_line'), `seed ${seed}: the run left no rows`).toBeGreaterThan(0);
        await checkClean(topology, seed);
      },
      240_000,
    );
  });
});
