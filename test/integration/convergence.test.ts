/**
 * Two-way sync converges, on real databases of three brands (docs/convergence.md): every
 * node takes random inserts (keys reused after deletes), updates of one or two columns,
 * key changes and deletes through its own triggers, while random programs run one pass
 * each so changes cross in flight (and, on nodes in capture mode keys, random capture passes
 * send what the key triggers noted); then everything syncs until nothing moves. Every node
 * must hold the same rows (compared by value with src/verify), no change may come back
 * to its origin, none may be recorded twice on a node, and nothing may stay parked or
 * pending. Topologies with directApply nodes (their transport applies a batch itself, the inbox
 * taking only what conflicts) must also have applied some batches that way. Seeded: the seed is
 * in the test name; DSYNC_CONVERGENCE_SEEDS runs more.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ValueMap } from '../../src/core/change.ts';
import type { DialectName, Row } from '../../src/core/dialect.ts';
import { deleteRow, insertRow, updateRow } from '../../src/runtime/import/dml.ts';
import { capturePass, passCaptured } from '../../src/runtime/capture/capture-pass.ts';
import { purge } from '../../src/runtime/purge.ts';
import { runProgramOnce, syncAll } from '../../src/runtime/sync.ts';
import { liveDialects } from '../helpers/databases.ts';
import { random } from '../helpers/random.ts';
import { createTopology, type Topology, type TopologySpec } from '../helpers/sync-topology.ts';

const live = await liveDialects();
const SEEDS = Number(process.env.DSYNC_CONVERGENCE_SEEDS ?? 2);
// DSYNC_CONVERGENCE_FIRST_SEED: where the seeds start (1), to try others than CI's.
const FIRST_SEED = Number(process.env.DSYNC_CONVERGENCE_FIRST_SEED ?? 1);
const OPS_PER_NODE = Number(process.env.DSYNC_CONVERGENCE_OPS ?? 100);

const TOPOLOGIES: Array<[string, TopologySpec]> = [
  ['PostgreSQL <-> SQLite', { nodes: { a: 'postgres', b: 'sqlite' }, links: [{ between: ['a', 'b'] }] }],
  [
    'hub PostgreSQL, spokes SQLite and MariaDB',
    { nodes: { hub: 'postgres', s1: 'sqlite', s2: 'mysql' }, links: [{ hub: 'hub', spokes: ['s1', 's2'] }] },
  ],
  [
    'ring PostgreSQL -> SQLite -> MariaDB -> PostgreSQL',
    {
      nodes: { a: 'postgres', b: 'sqlite', c: 'mysql' },
      programs: [
        { id: 1000, type: 'transport', from: 'a', to: 'b' },
        { id: 1001, type: 'import', node: 'b' },
        { id: 1002, type: 'transport', from: 'b', to: 'c' },
        { id: 1003, type: 'import', node: 'c' },
        { id: 1004, type: 'transport', from: 'c', to: 'a' },
        { id: 1005, type: 'import', node: 'a' },
      ],
    },
  ],
  [
    'mesh of PostgreSQL, SQLite and MariaDB',
    {
      nodes: { a: 'postgres', b: 'sqlite', c: 'mysql' },
      links: [{ between: ['a', 'b'] }, { between: ['b', 'c'] }, { between: ['a', 'c'] }],
    },
  ],
  [
    'PostgreSQL in capture mode keys <-> SQLite',
    { nodes: { a: 'postgres', b: 'sqlite' }, links: [{ between: ['a', 'b'] }], capture: { a: 'keys' } },
  ],
  // Direct apply (docs/convergence.md#direct-apply): a node fed by one transport takes its batches without the inbox.
  [
    'PostgreSQL <-> SQLite, both directApply',
    { nodes: { a: 'postgres', b: 'sqlite' }, links: [{ between: ['a', 'b'] }], directApply: ['a', 'b'] },
  ],
  [
    'ring PostgreSQL -> MariaDB -> SQLite -> PostgreSQL, every node directApply',
    {
      nodes: { a: 'postgres', b: 'mysql', c: 'sqlite' },
      programs: [
        { id: 1000, type: 'transport', from: 'a', to: 'b' },
        { id: 1001, type: 'import', node: 'b' },
        { id: 1002, type: 'transport', from: 'b', to: 'c' },
        { id: 1003, type: 'import', node: 'c' },
        { id: 1004, type: 'transport', from: 'c', to: 'a' },
        { id: 1005, type: 'import', node: 'a' },
      ],
      directApply: ['a', 'b', 'c'],
    },
  ],
  [
    'hub MariaDB, spokes PostgreSQL and SQLite directApply',
    { nodes: { hub: 'mysql', s1: 'postgres', s2: 'sqlite' }, links: [{ hub: 'hub', spokes: ['s1', 's2'] }], directApply: ['s1', 's2'] },
  ],
  [
    'PostgreSQL in capture mode keys <-> MariaDB, both directApply',
    { nodes: { a: 'postgres', b: 'mysql' }, links: [{ between: ['a', 'b'] }], capture: { a: 'keys' }, directApply: ['a', 'b'] },
  ],
  [
    'mesh of PostgreSQL, SQLite and MariaDB, all in capture mode keys',
    {
      nodes: { a: 'postgres', b: 'sqlite', c: 'mysql' },
      links: [{ between: ['a', 'b'] }, { between: ['b', 'c'] }, { between: ['a', 'c'] }],
      capture: { a: 'keys', b: 'keys', c: 'keys' },
    },
  ],
];

const usable = TOPOLOGIES.filter(([, spec]) => Object.values(spec.nodes).every((d) => live.includes(d as DialectName)));

/** Random changes on one node through its triggers; a change the node refuses (a duplicate key) is simply not made. */
async function randomChange(topology: Topology, node: string, rnd: () => number, step: number): Promise<void> {
  const { client } = topology.handles[node];
  const table = topology.tables[node].order_line;
  const key = { order_id: `o${Math.floor(rnd() * 4)}`, line_no: Math.floor(rnd() * 5) };
  const roll = rnd();
  try {
    if (roll < 0.35) {
      await insertRow(client, table, { ...key, product: `${node}-p${step}`, amount: (rnd() * 100).toFixed(2) });
    } else if (roll < 0.7) {
      const values: ValueMap =
        rnd() < 0.5
          ? { product: `${node}-u${step}` }
          : { product: `${node}-v${step}`, amount: rnd() < 0.2 ? null : (rnd() * 100).toFixed(2) };
      await updateRow(client, table, key, values);
    } else if (roll < 0.8) {
      await updateRow(client, table, key, { line_no: 5 + Math.floor(rnd() * 3) });
    } else {
      await deleteRow(client, table, key);
    }
  } catch {
    // A duplicate key, or a key change onto a taken key: the application would get the same error.
  }
}

/**
 * Each program, and each node's capture pass (capture mode keys), runs once or not, at random.
 * Returns the changes transports into directApply nodes applied themselves (not through the inbox).
 */
async function randomPasses(topology: Topology, rnd: () => number): Promise<number> {
  for (const node of Object.keys(topology.handles)) {
    if (passCaptured(topology.config, node).length > 0 && rnd() < 0.5) await capturePass(topology.config, topology.nodes, node);
  }
  let direct = 0;
  for (const program of topology.config.programs) {
    if (rnd() >= 0.5) continue;
    const result = await runProgramOnce(topology.config, topology.nodes, program);
    if ('applied' in result && program.type === 'transport') direct += result.applied;
  }
  return direct;
}

async function checkConverged(topology: Topology, seed: number): Promise<void> {
  for (const { node, result } of await topology.compare('order_line')) {
    expect(result.differences, `seed ${seed}: ${node} differs from the first node: ${JSON.stringify(result.differences)}`).toEqual([]);
    expect(result.differenceCount, `seed ${seed}: ${node}`).toBe(0);
  }
  for (const [name, handle] of Object.entries(topology.handles)) {
    const { client, node } = handle;
    const p = client.dialect.sql.param;
    expect(
      await topology.count(client, `SELECT count(*) FROM ds_change_inbox WHERE updated_by_server_id = ${p(1)}`, [node.serverId]),
      `seed ${seed}: ${name} received its own change`,
    ).toBe(0);
    const { rows } = await client.query<Row>(
      `SELECT updated_by_server_id AS s, origin_change_id AS c, count(*) AS n FROM ds_change_outbox WHERE origin_change_id IS NOT NULL GROUP BY updated_by_server_id, origin_change_id HAVING count(*) > 1`,
    );
    expect(rows, `seed ${seed}: ${name} recorded a change twice`).toEqual([]);
    expect(
      await topology.count(client, "SELECT count(*) FROM ds_change_error WHERE status IN ('open', 'waiting')"),
      `seed ${seed}: ${name} parked a change`,
    ).toBe(0);
    expect(await topology.count(client, 'SELECT count(*) FROM ds_change_pending'), `seed ${seed}: ${name} kept a pending update`).toBe(0);
  }
}

describe.each(usable)('convergence: %s', (_, spec) => {
  let topology: Topology | undefined;
  afterEach(async () => {
    await topology?.close();
    topology = undefined;
  });

  it.each(Array.from({ length: SEEDS }, (_, i) => FIRST_SEED + i))(
    'seed %i: random changes on every node, crossing in flight, end with the same rows everywhere',
    async (seed) => {
      topology = await createTopology(spec);
      const rnd = random(seed * 7919);
      const names = Object.keys(spec.nodes);
      let direct = 0;
      for (let step = 0; step < OPS_PER_NODE * names.length; step++) {
        await randomChange(topology, names[Math.floor(rnd() * names.length)], rnd, step);
        if (step % 25 === 24) direct += await randomPasses(topology, rnd);
        // Retention in the middle of the run must change no outcome.
        if (step === Math.floor(OPS_PER_NODE * names.length * 0.6)) await purge(topology.config, topology.nodes);
      }
      const report = await syncAll(topology.config, topology.nodes);
      expect(report.heldBack, `seed ${seed}: rows still held back`).toBe(0);
      await checkConverged(topology, seed);
      // The run really made changes cross: some node met a conflict (and recorded it).
      let conflicts = 0;
      for (const handle of Object.values(topology.handles))
        conflicts += await topology.count(handle.client, 'SELECT count(*) FROM ds_change_conflict');
      expect(conflicts, `seed ${seed}: no change ever crossed another`).toBeGreaterThan(0);
      // A directApply node took batches without its inbox (and the conflicts above through it).
      if (spec.directApply) expect(direct, `seed ${seed}: no batch was applied directly`).toBeGreaterThan(0);
    },
    240_000,
  );
});
