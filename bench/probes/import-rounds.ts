/**
 * Probe: the drain-ab workload (N inserts, then an UPDATE of every row) moved once into the
 * target's inbox, then imported R times from the same inbox into an emptied target (the
 * table, the version store, the pointer reset between rounds): this process's CPU, the
 * target session's server thread (MariaDB) and the wall per round, and their medians. The
 * transport and the set-up are paid once, so rounds from two trees run in turn compare the
 * import alone: `npx tsx bench/probes/import-rounds.ts [N] [postgres>mysql] [R]`.
 * PROFILE=out.cpuprofile: the last round under the V8 profiler (warm code, unlike import-profile.ts).
 * Each round also gives the collector's pauses (count and milliseconds, minor and major): the
 * number of scavenges follows what the import allocates, and moves little with the machine's load.
 * HEAP_FLAGS=1: the heap settings of the commands that move changes (src/runtime/heap.ts), as the
 * bench's drain runs with; V8_FLAGS='--a --b': more V8 flags (those read at each collection take effect).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair, resetTarget } from '../drain-pair.ts';
import { mariadbSessionCpuSeconds } from '../machine.ts';
import { countGcPauses, probeHeapFlags } from './gc-pauses.ts';

const n = Number(process.argv[2] ?? 50000);
const [from, to] = (process.argv[3] ?? 'postgres>mysql').split('>') as [DialectName, DialectName];
const rounds = Number(process.argv[4] ?? 5);
const IMPORT_ID = 1001;
probeHeapFlags();
const gc = countGcPauses();

const { setup, src, tgt } = await createDrainPair(from, to, n);
try {
  let moved = 0;
  for (let pass = 0; moved < 2 * n && pass < 50; pass++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const sessionCpu = (await mariadbSessionCpuSeconds(tgt.client)) ?? (() => 0);
  const cpus: number[] = [];
  const servers: number[] = [];
  const walls: number[] = [];
  for (let round = 0; round < rounds; round++) {
    if (round > 0) await resetTarget(tgt.client, IMPORT_ID);
    await new Promise((resolve) => setImmediate(resolve));
    gc.take();
    const session = process.env.PROFILE && round === rounds - 1 ? new Session() : null;
    if (session) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.start');
    }
    const g0 = sessionCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let applied = 0;
    for (let pass = 0; applied < 2 * n && pass < 50; pass++) {
      const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
      applied += r.applied + r.unchanged;
    }
    const c = process.cpuUsage(c0);
    if (session) writeFileSync(process.env.PROFILE!, JSON.stringify((await session.post('Profiler.stop')).profile));
    cpus.push((c.user + c.system) / 1e6);
    servers.push(sessionCpu() - g0);
    walls.push((performance.now() - t0) / 1000);
    console.log(
      `round ${round}: ${applied} changes, import ${walls[round].toFixed(2)} s, CPU ${cpus[round].toFixed(2)} s, session thread ${servers[round].toFixed(2)} s, ${gc.take()}`,
    );
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(2);
  console.log(`median of ${rounds}: import ${median(walls)} s, CPU ${median(cpus)} s, session thread ${median(servers)} s`);
} finally {
  await setup.close();
}
