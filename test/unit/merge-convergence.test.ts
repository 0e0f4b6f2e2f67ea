/**
 * The merge rule on its own (docs/convergence.md), without databases: simulated nodes
 * make random inserts, updates, deletes and key changes, capture them as the triggers
 * do (entryAfterLocalChange), and deliver changes over FIFO links in a random
 * interleaving, forwarding what they apply. Whatever the topology and the order, every
 * node must end with the same rows. Seeded; the seed is in the test name.
 */
import { describe, expect, it } from 'vitest';
import { canonicalKeyText } from '../../src/core/canonical-key.ts';
import type { ChangeEvent, ValueMap } from '../../src/core/change.ts';
import { type Forward, planChange, type RowState } from '../../src/runtime/import/merge.ts';
import { entryAfterLocalChange } from '../../src/runtime/import/version-store.ts';
import { random } from '../helpers/random.ts';
import { mergeTable } from '../helpers/merge-table.ts';

const table = mergeTable;

interface SimNode {
  name: string;
  rows: Map<string, RowState>;
  outbox: ChangeEvent[];
  seen: Set<string>;
  pending: ChangeEvent[];
  /** This node's clock offset in µs: clocks disagree. */
  skew: number;
}

/** How often the interesting paths ran, so that a run that never exercised them is noticed. */
const stats = { pending: 0, stale: 0 };

const keyText = (id: number) => canonicalKeyText(table, { id });

function simulate(seed: number, nodeCount: number, links: Array<[number, number]>, steps: number, forwarding = true) {
  const rnd = random(seed);
  let clock = 1_000_000;
  const nodes: SimNode[] = Array.from({ length: nodeCount }, (_, i) => ({
    name: `n${i}`,
    rows: new Map(),
    outbox: [],
    seen: new Set(),
    pending: [],
    skew: Math.floor(rnd() * 2000) - 1000,
  }));
  const cursors = new Map(links.map(([f, t]) => [`${f}>${t}`, 0]));
  const state = (n: SimNode, id: number): RowState => n.rows.get(keyText(id)) ?? { row: null, entry: null };

  function local(n: SimNode) {
    // Mostly rows this node already has, so that changes of one incarnation cross paths.
    const live = [...n.rows.entries()].filter(([, st]) => st.row).map(([, st]) => st.row!.id as number);
    const id = live.length > 0 && rnd() < 0.7 ? live[Math.floor(rnd() * live.length)] : Math.floor(rnd() * 12);
    const here = state(n, id);
    const now = (clock += 10) + n.skew;
    const origin = { serverId: n.name, changeId: n.outbox.length + 1, userId: null, updatedAt: null };
    const emit = (change: Omit<ChangeEvent, 'origin' | 'table'>) => n.outbox.push({ ...change, table: 't', origin });
    if (!here.row) {
      const values = { id, a: `a${Math.floor(rnd() * 100)}`, b: `b${Math.floor(rnd() * 100)}` };
      const { entry, version } = entryAfterLocalChange(here.entry, 'I', [], now, n.name);
      n.rows.set(keyText(id), { row: values, entry });
      emit({ operation: 'I', key: { id }, keyOld: null, values, oldValues: null, cl: entry.cl, clOld: null, version: version.time });
      return;
    }
    const roll = rnd();
    if (roll < 0.6) {
      const cols = rnd() < 0.5 ? ['a'] : rnd() < 0.5 ? ['b'] : ['a', 'b'];
      const values: ValueMap = Object.fromEntries(cols.map((c) => [c, `${c}${Math.floor(rnd() * 100)}`]));
      const oldValues: ValueMap = Object.fromEntries(cols.map((c) => [c, here.row![c]]));
      const { entry, version } = entryAfterLocalChange(here.entry, 'U', cols, now, n.name);
      n.rows.set(keyText(id), { row: { ...here.row, ...values }, entry });
      emit({ operation: 'U', key: { id }, keyOld: null, values, oldValues, cl: entry.cl, clOld: null, version: version.time });
    } else if (roll < 0.75) {
      const to = Math.floor(rnd() * 12);
      const there = state(n, to);
      if (there.row) return;
      const floor = Math.max(here.entry?.maxVersion ?? 0, there.entry?.maxVersion ?? 0);
      const removed = entryAfterLocalChange(here.entry, 'D', [], Math.max(now, floor + 1), n.name);
      const added = entryAfterLocalChange(there.entry, 'I', [], Math.max(now, floor + 1), n.name);
      const values = { ...here.row, id: to };
      n.rows.set(keyText(id), { row: null, entry: removed.entry });
      n.rows.set(keyText(to), { row: values, entry: added.entry });
      emit({
        operation: 'U',
        key: { id: to },
        keyOld: { id },
        values,
        oldValues: { id },
        cl: added.entry.cl,
        clOld: removed.entry.cl,
        version: added.version.time,
      });
    } else {
      const { entry, version } = entryAfterLocalChange(here.entry, 'D', [], now, n.name);
      n.rows.set(keyText(id), { row: null, entry });
      emit({
        operation: 'D',
        key: { id },
        keyOld: null,
        values: {},
        oldValues: here.row,
        cl: entry.cl,
        clOld: null,
        version: version.time,
      });
    }
  }

  function apply(n: SimNode, change: ChangeEvent): boolean {
    const plan = planChange(
      table,
      'latest-wins',
      change,
      state(n, change.key.id as number),
      change.keyOld ? state(n, change.keyOld.id as number) : undefined,
    );
    if (plan.outcome === 'pending') return false;
    if (plan.outcome === 'stale') stats.stale++;
    for (const { key, state: next } of plan.states) n.rows.set(keyText(key.id as number), next);
    if (plan.forward && forwarding) n.outbox.push(fromForward(plan.forward, change));
    return true;
  }

  function deliver(from: number, to: number) {
    const cursor = cursors.get(`${from}>${to}`)!;
    const change = nodes[from].outbox[cursor];
    if (!change) return;
    cursors.set(`${from}>${to}`, cursor + 1);
    const target = nodes[to];
    const id = `${change.origin.serverId}#${change.origin.changeId}`;
    if (change.origin.serverId === target.name || target.seen.has(id)) return;
    target.seen.add(id);
    if (!apply(target, change)) {
      target.pending.push(change);
      stats.pending++;
    }
    // Pending updates whose insert is now here.
    for (let again = true; again; ) {
      again = false;
      for (const p of [...target.pending]) {
        if (apply(target, p)) {
          target.pending.splice(target.pending.indexOf(p), 1);
          again = true;
        }
      }
    }
  }

  for (let i = 0; i < steps; i++) {
    if (rnd() < 0.4) local(nodes[Math.floor(rnd() * nodeCount)]);
    else {
      const [f, t] = links[Math.floor(rnd() * links.length)];
      deliver(f, t);
    }
  }
  for (let moved = true; moved; ) {
    moved = false;
    for (const [f, t] of links) {
      while (cursors.get(`${f}>${t}`)! < nodes[f].outbox.length) {
        deliver(f, t);
        moved = true;
      }
    }
  }
  return nodes;
}

function fromForward(f: Forward, change: ChangeEvent): ChangeEvent {
  return {
    table: 't',
    operation: f.operation,
    key: f.key,
    keyOld: f.keyOld,
    values: f.values ?? {},
    oldValues: f.oldValues,
    origin: change.origin,
    cl: f.cl,
    clOld: f.clOld,
    version: f.version.time,
  };
}

const liveRows = (n: SimNode) =>
  [...n.rows.entries()]
    .filter(([, s]) => s.row)
    .map(([k, s]) => [k, s.row])
    .sort(([a], [b]) => String(a).localeCompare(String(b)));

const both = (pairs: Array<[number, number]>): Array<[number, number]> =>
  pairs.flatMap(
    ([a, b]) =>
      [
        [a, b],
        [b, a],
      ] as Array<[number, number]>,
  );
const TOPOLOGIES: Record<string, { nodes: number; links: Array<[number, number]>; forwarding?: boolean }> = {
  pair: { nodes: 2, links: both([[0, 1]]) },
  'hub and spokes': {
    nodes: 4,
    links: both([
      [0, 1],
      [0, 2],
      [0, 3],
    ]),
  },
  chain: {
    nodes: 3,
    links: both([
      [0, 1],
      [1, 2],
    ]),
  },
  ring: {
    nodes: 3,
    links: [
      [0, 1],
      [1, 2],
      [2, 0],
    ],
  },
  mesh: {
    nodes: 3,
    links: both([
      [0, 1],
      [1, 2],
      [0, 2],
    ]),
  },
  // Each node sends only its own changes: an update can overtake the insert it follows.
  'mesh without forwarding': {
    nodes: 4,
    links: both([
      [0, 1],
      [1, 2],
      [0, 2],
      [0, 3],
      [1, 3],
      [2, 3],
    ]),
    forwarding: false,
  },
};

const SEEDS = Number(process.env.DSYNC_CONVERGENCE_SIM_SEEDS ?? 40);

describe.each(Object.entries(TOPOLOGIES))('simulated %s', (_, topology) => {
  it.each(Array.from({ length: SEEDS }, (_, i) => i + 1))('seed %i: every node ends with the same rows', (seed) => {
    const nodes = simulate(seed, topology.nodes, topology.links, 600, topology.forwarding ?? true);
    const expected = liveRows(nodes[0]);
    for (const n of nodes.slice(1)) expect(liveRows(n), `seed ${seed}: ${n.name} differs from n0`).toEqual(expected);
    for (const n of nodes) expect(n.pending, `seed ${seed}: ${n.name} has pending updates left`).toEqual([]);
  });
});

describe('the simulation', () => {
  // Nodes that forward what they apply in order over FIFO links deliver causally, so only
  // the mesh without forwarding makes updates overtake their insert.
  it('exercised changes that crossed a delete or a re-insert, and updates that overtook their insert', () => {
    if (SEEDS < 10) return;
    expect(stats.stale).toBeGreaterThan(0);
    expect(stats.pending).toBeGreaterThan(0);
  });
});
