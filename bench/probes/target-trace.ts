/**
 * Probe: where a drain's time goes at the target. A backlog of N inserts and an UPDATE of
 * every row (2N changes) moved by transportOnce and applied by importOnce, the target's
 * client traced by statement shape, each phase timed:
 * `npx tsx bench/probes/target-trace.ts [N] [postgres>sqlite,postgres>mysql]`. On a MariaDB target
 * whose server runs on this machine, each shape also shows the server's CPU time while it ran
 * (/proc, 10 ms ticks): the target session's own thread where the server says which it is
 * (other sessions of a shared server do not count), else all of mariadbd's threads.
 */
import type { DbClient, DialectName } from '../../src/core/dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createDrainPair } from '../drain-pair.ts';
import { mariadbCpuSeconds, mariadbSessionCpuSeconds } from '../machine.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';

const n = Number(process.argv[2] ?? 10000);

/** MariaDB's own CPU, in milliseconds, when the server runs on this machine: statements' server time by shape. */
const mariadbCpu = mariadbCpuSeconds();
const serverPid = mariadbCpu !== null;
let sessionCpu: (() => number) | null = null;
const serverCpu = () => (sessionCpu ?? mariadbCpu!)() * 1000;
const serverTrace = new StatementTrace();
function serverTimed(client: DbClient): DbClient {
  if (!serverPid || client.dialect.name !== 'mysql') return client;
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query' || prop === 'queryArrays' || prop === 'loadData')
        return async (sql: string, arg: never) => {
          const s0 = serverCpu();
          try {
            return await (target as never as Record<string, (a: string, b: never) => Promise<unknown>>)[prop](sql, arg);
          } finally {
            serverTrace.record(sql, serverCpu() - s0);
          }
        };
      if (prop === 'transaction') return <T>(fn: (tx: DbClient) => Promise<T>) => target.transaction((tx) => fn(serverTimed(tx)));
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
const pairs = (process.argv[3] ?? 'postgres>sqlite,postgres>mysql').split(',');
for (const pair of pairs) {
  const [from, to] = pair.split('>') as [DialectName, DialectName];
  const { setup, src, tgt } = await createDrainPair(from, to, n);
  sessionCpu = await mariadbSessionCpuSeconds(tgt.client);
  try {
    // Probe only: NO_CAPTURE=1 drops the target table's capture triggers, to see what they cost the import.
    if (process.env.NO_CAPTURE) {
      const { rows } = await tgt.client.query<{ name: string }>(
        tgt.dialect.name === 'sqlite'
          ? "SELECT name FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'sales_order'"
          : "SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'sales_order'",
      );
      for (const r of rows) await tgt.client.exec(`DROP TRIGGER ${tgt.dialect.sql.ident(r.name)}`);
    }
    for (const phase of ['transport', 'import'] as const) {
      // TIMELINE=1: the import's statements in order, each with this process's own time before it.
      const trace = new StatementTrace(process.env.TIMELINE !== undefined && phase === 'import');
      const traced = { ...tgt, client: traceClient(serverTimed(tgt.client), trace) };
      const before = new Map(serverTrace.top(100).map((x) => [x.shape, x.ms]));
      const t0 = performance.now();
      let done = 0;
      for (let pass = 0; done < 2 * n && pass < 50; pass++) {
        if (phase === 'transport') done += (await transportOnce(setup.config.programs[0] as never, src, traced)).moved;
        else {
          const r = await importOnce(setup.config, setup.config.programs[1] as never, traced);
          done += r.applied + r.unchanged;
        }
      }
      const ms = performance.now() - t0;
      const stmtMs = trace.top(100).reduce((s, x) => s + x.ms, 0);
      console.log(`${pair} ${phase}: ${2 * n} changes in ${(ms / 1000).toFixed(2)} s; target statements ${(stmtMs / 1000).toFixed(2)} s`);
      const server = new Map(serverTrace.top(100).map((x) => [x.shape, x.ms - (before.get(x.shape) ?? 0)]));
      for (const s of trace.top(8)) {
        const cpu = server.has(s.shape) ? ` (server CPU ${String(server.get(s.shape)).padStart(5)} ms)` : '';
        console.log(`  ${String(s.ms).padStart(6)} ms${cpu} ${String(s.count).padStart(4)}× ${s.shape}`);
      }
      for (const line of trace.timelineLines(t0)) console.log(line);
    }
  } finally {
    await setup.close();
  }
}
