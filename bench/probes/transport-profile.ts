/**
 * Probe: where one drain's transport spends its time, from a source of the given brand:
 * a backlog of N inserts and an UPDATE of every row (2N changes), moved by transportOnce
 * under the V8 profiler (node:inspector), only the transport profiled; prints wall, this
 * process's CPU, mariadbd's CPU where a side is MariaDB, and the profile's top functions
 * and files (bench/profile-summary.ts).
 *
 *   npx tsx bench/probes/transport-profile.ts [N=20000] [mysql>postgres]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DialectName } from '../../src/core/dialect.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { mariadbCpuSeconds } from '../machine.ts';
import { summarizeProfile } from '../profile-summary.ts';

const n = Number(process.argv[2] ?? 20000);
const [from, to] = (process.argv[3] ?? 'mysql>postgres').split('>') as [DialectName, DialectName];
const mariadbCpu = mariadbCpuSeconds() ?? (() => 0);
const { setup, src, tgt } = await createDrainPair(from, to, n);
const session = new Session();
session.connect();
try {
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const s0 = mariadbCpu();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let moved = 0;
  let passes = 0;
  for (; moved < 2 * n && passes < 50; passes++) moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  const s = mariadbCpu() - s0;
  const { profile } = await session.post('Profiler.stop');
  const file = join(tmpdir(), `transport-${from}-${to}-${process.pid}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  console.log(
    `${from}>${to}: ${moved} changes in ${passes} passes, ${ms.toFixed(0)} ms, CPU ${((c.user + c.system) / 1000).toFixed(0)} ms, mariadbd ${(s * 1000).toFixed(0)} ms`,
  );
  const summary = summarizeProfile(file, 20)!;
  console.log(`profile ${summary.totalMs.toFixed(0)} ms, idle ${summary.idleMs.toFixed(0)} ms`);
  for (const e of summary.functions) console.log(`  ${e.ms.toFixed(0).padStart(6)} ms ${e.pct.toFixed(1).padStart(5)} %  ${e.name}`);
  console.log(`gc ${summary.gcMs.toFixed(0)} ms; by file:`);
  for (const e of summary.files) console.log(`  ${e.ms.toFixed(0).padStart(6)} ms ${e.pct.toFixed(1).padStart(5)} %  ${e.name}`);
} finally {
  session.disconnect();
  await setup.close();
}
