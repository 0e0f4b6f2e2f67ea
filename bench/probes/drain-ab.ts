/**
 * Probe: a backlog of N inserts, then an UPDATE of every row (2N changes, written by
 * INSERT … SELECT and one UPDATE through the triggers), moved from a source to a target
 * by transportOnce and importOnce, timed per phase, for the pairs asked:
 * `npx tsx bench/probes/drain-ab.ts [N] [postgres>postgres,postgres>sqlite,…]`. Run from
 * two trees at once (before and after a change), it compares them under one load; the
 * CPU seconds of each phase (this process's own work) move less with the load than the times.
 */
import { execFileSync } from 'node:child_process';
import type { DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { mariadbCpuSeconds, mariadbSessionCpuSeconds } from '../machine.ts';

const n = Number(process.argv[2] ?? 20000);

/** MariaDB's own CPU seconds when it runs on this machine: a pair with a MariaDB side prints it per phase. */
const mariadbCpuOrNull = mariadbCpuSeconds();
const mariadbPid = mariadbCpuOrNull !== null;
const mariadbCpu = () => mariadbCpuOrNull?.() ?? 0;
const pairs = (process.argv[3] ?? 'postgres>postgres,postgres>sqlite,postgres>mysql,sqlite>postgres,mysql>postgres').split(',');
for (const pair of pairs) {
  const [from, to] = pair.split('>') as [DialectName, DialectName];
  const { setup, src, tgt } = await createDrainPair(from, to, n);
  try {
    // The target session's own server thread, where the target is MariaDB: what other sessions do not move.
    const sessionCpu = (await mariadbSessionCpuSeconds(tgt.client)) ?? (() => 0);
    const g0 = sessionCpu();
    const s0 = mariadbCpu();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let moved = 0;
    for (let pass = 0; moved < 2 * n && pass < 50; pass++)
      moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const s1 = mariadbCpu();
    const g1 = sessionCpu();
    // RT=1 (as root, a PostgreSQL target): the import's process and its backend under SCHED_FIFO (import-cpu.ts says why).
    const rt =
      process.env.RT && tgt.dialect.name === 'postgres'
        ? [process.pid, Number((await tgt.client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid)]
        : [];
    for (const p of rt) execFileSync('chrt', ['-a', '-p', '-f', '10', String(p)]);
    let applied = 0;
    for (let pass = 0; applied < 2 * n && pass < 50; pass++) {
      const r = await importOnce(setup.config, setup.config.programs[1] as never, tgt);
      applied += r.applied + r.unchanged;
    }
    const t2 = performance.now();
    const c2 = process.cpuUsage();
    for (const p of rt) execFileSync('chrt', ['-a', '-p', '-o', '0', String(p)]);
    const s2 = mariadbCpu();
    const g2 = sessionCpu();
    const rate = (2 * n) / ((t2 - t0) / 1000);
    // This process's own CPU per phase (user + system): steadier than the times on a shared machine.
    const cpu = (a: NodeJS.CpuUsage, b: NodeJS.CpuUsage) => ((b.user - a.user + b.system - a.system) / 1e6).toFixed(2);
    const session =
      tgt.dialect.name === 'mysql' && g2 > 0 ? ` (the target session's thread ${(g1 - g0).toFixed(2)} s, ${(g2 - g1).toFixed(2)} s)` : '';
    const server =
      mariadbPid && pair.includes('mysql') ? `; mariadbd CPU ${(s1 - s0).toFixed(2)} s, ${(s2 - s1).toFixed(2)} s${session}` : '';
    console.log(
      `${pair}: ${2 * n} changes, transport ${((t1 - t0) / 1000).toFixed(1)} s (CPU ${cpu(c0, c1)} s), import ${((t2 - t1) / 1000).toFixed(1)} s (CPU ${cpu(c1, c2)} s), ${rate.toFixed(0)} changes/s${server}`,
    );
  } finally {
    await setup.close();
  }
}
