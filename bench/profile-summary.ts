/**
 * Where a process spent its time, from a V8 CPU profile (`node --cpu-prof`): self time
 * per function and per source file, idle and garbage collection apart. Enough to say
 * "the import waits on round trips" or "decoding JSON costs a third" with numbers.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  name: string;
  ms: number;
  pct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Waiting for the network or the disk: the process had nothing to do. */
  idleMs: number;
  gcMs: number;
  functions: ProfileEntry[];
  /** Self time grouped by source file (dsync modules, driver files, node internals). */
  files: ProfileEntry[];
}

const SPECIAL = new Set(['(idle)', '(garbage collector)', '(program)', '(root)']);

function fileOf(url: string): string {
  if (!url) return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nodeModule = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (nodeModule) return `${nodeModule[1]} (${basename(path)})`;
  const src = /\/(src|bench)\/(.+)$/.exec(path);
  if (src) return `${src[1]}/${src[2]}`;
  return path.startsWith('node:') ? path : `node:${basename(path)}`;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary | undefined {
  if (!existsSync(file)) return undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const functions = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  let gc = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    total += delta;
    if (functionName === '(idle)') idle += delta;
    if (functionName === '(garbage collector)') gc += delta;
    const name = SPECIAL.has(functionName) ? functionName : `${functionName || '(anonymous)'} ${fileOf(url)}:${lineNumber + 1}`;
    functions.set(name, (functions.get(name) ?? 0) + delta);
    const f = SPECIAL.has(functionName) ? functionName : fileOf(url);
    files.set(f, (files.get(f) ?? 0) + delta);
  });
  const entries = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((1000 * us) / total) / 10 }));
  return {
    file,
    totalMs: Math.round(total / 1000),
    idleMs: Math.round(idle / 1000),
    gcMs: Math.round(gc / 1000),
    functions: entries(functions),
    files: entries(files),
  };
}
