/**
 * Probe: what the import keeps alive mid-drain. The import-cpu.ts workload (N inserts, an UPDATE of
 * every row, a DELETE of every fifth) moved by transportOnce, then imported; `at` ms into the import a
 * heap snapshot is taken (V8 collects first, so it holds what is live) and summed by object kind and
 * constructor: `npx tsx bench/probes/import-live-heap.ts [N] [at ms] [dir]`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { TABLE } from '../nodes.ts';

const n = Number(process.argv[2] ?? 50000);
const at = Number(process.argv[3] ?? 1500);
const dir = process.argv[4] ?? '.';

/** The snapshot's objects summed by type and name (self sizes): the 25 largest. */
function summarize(file: string): string[] {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const types = snap.snapshot.meta.node_types[0];
  const sums = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    const name = type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + nameAt]] : '';
    const key = `${type} ${name}`.trim();
    const size = snap.nodes[i + sizeAt];
    total += size;
    const s = sums.get(key) ?? { count: 0, bytes: 0 };
    s.count++;
    s.bytes += size;
    sums.set(key, s);
  }
  return [
    `live: ${(total / 1e6).toFixed(1)} MB`,
    ...[...sums]
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 25)
      .map(([k, s]) => `  ${(s.bytes / 1e6).toFixed(2)} MB  ${s.count}  ${k}`),
  ];
}

const { setup, src, tgt } = await createDrainPair('postgres', 'postgres', n);
try {
  await src.client.exec(`DELETE FROM ${TABLE} WHERE quantity % 5 = 0`);
  const total = Number((await src.client.query('SELECT count(*) AS n FROM ds_change_outbox')).rows[0].n);
  let moved = 0;
  for (let pass = 0; moved < total && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  let file = '';
  const timer = setTimeout(() => {
    file = writeHeapSnapshot(join(dir, 'import-live.heapsnapshot'));
  }, at);
  let done = 0;
  for (let pass = 0; done < total && pass < 50; pass++) {
    const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
    done += r.applied + r.unchanged + r.parked + r.waiting;
  }
  clearTimeout(timer);
  if (file) for (const line of summarize(file)) console.log(line);
  else console.log('the import ended before the snapshot');
} finally {
  await setup.close();
}
