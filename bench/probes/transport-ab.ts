/**
 * Probe: the transport alone, for A/B runs from two trees: a backlog of N inserts and an
 * UPDATE of every row (2N changes) moved by transportOnce passes, per pair: wall, this
 * process's CPU, and the server's CPU for each side's own session (a PostgreSQL backend's
 * process, a MariaDB connection's thread; read from /proc, so servers on this machine).
 *
 *   npx tsx bench/probes/transport-ab.ts [N=50000] [postgres>postgres,…] [rounds=1]
 */
import { readFileSync } from 'node:fs';
import type { DialectName, DbClient } from '../../src/core/dialect.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { mariadbSessionCpuSeconds } from '../machine.ts';

const n = Number(process.argv[2] ?? 50000);
const pairs = (process.argv[3] ?? 'postgres>postgres,postgres>sqlite,postgres>mysql,sqlite>postgres,mysql>postgres').split(',');
const rounds = Number(process.argv[4] ?? 1);

const procCpu = (path: string) => () => {
  const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/** The CPU seconds of the server's work for this connection, where it can be read; else 0. */
async function sessionCpu(client: DbClient): Promise<() => number> {
  if (client.dialect.name === 'postgres' && client.sessionId) return procCpu(`/proc/${client.sessionId}/stat`);
  if (client.dialect.name === 'mysql') return (await mariadbSessionCpuSeconds(client)) ?? (() => 0);
  return () => 0;
}

for (let round = 0; round < rounds; round++)
  for (const pair of pairs) {
    const [from, to] = pair.split('>') as [DialectName, DialectName];
    const { setup, src, tgt } = await createDrainPair(from, to, n);
    try {
      const s = await sessionCpu(src.client);
      const t = await sessionCpu(tgt.client);
      const s0 = s();
      const t0 = t();
      const c0 = process.cpuUsage();
      const w0 = performance.now();
      let moved = 0;
      for (let pass = 0; moved < 2 * n && pass < 50; pass++)
        moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
      const wall = (performance.now() - w0) / 1000;
      const c = process.cpuUsage(c0);
      console.log(
        `${pair}: ${moved} changes, wall ${wall.toFixed(2)} s, CPU ${((c.user + c.system) / 1e6).toFixed(2)} s, source session ${(s() - s0).toFixed(2)} s, target session ${(t() - t0).toFixed(2)} s`,
      );
    } finally {
      await setup.close();
    }
  }
