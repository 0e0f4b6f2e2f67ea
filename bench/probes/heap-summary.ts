/** A V8 heap snapshot summed by object kind and constructor, for the probes that take one (import-live-heap.ts, transport-memory.ts). */
import { readFileSync } from 'node:fs';

/** The snapshot's objects summed by type and name (self sizes): the 25 largest. */
export function summarizeHeapSnapshot(file: string): string[] {
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
