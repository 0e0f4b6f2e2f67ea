/**
 * W on MariaDB's sales_order with the generated capture triggers, phase after phase, while
 * `perf record -t <tid>` samples the session's server thread (the tid is printed first, then
 * each phase waits for the file $GATE.<phase> to appear). Not a benchmark case: evidence for docs/performance.md.
 *
 *   [BULK=1] npx tsx bench/probes/mysql-capture-perf.ts N [script.sql] [phase]
 * (BULK=1: the update phase is one UPDATE of every row)
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { updateAllRows } from '../bulk-sql.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { type Phase, PHASES, runPhase, type Workload } from '../workload.ts';

const n = Number(process.argv[2] ?? 10000);
const script = process.argv[3] && process.argv[3] !== '-' ? readFileSync(process.argv[3], 'utf8') : null;
const only = process.argv[4] as Phase | undefined;
const gate = process.env.GATE ?? '/tmp/mc/go';
const w: Workload = { inserts: n, updates: n, deletes: Math.round(n / 5), perTransaction: 1000 };
const setup = await createBenchSetup([{ name: 'src', dialect: 'mysql', sync: true }]);
try {
  const { client } = await setup.handle('src');
  if (script) for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
  const { rows } = await client.query<{ tid: number }>('SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()');
  console.log(`tid ${rows[0].tid}`);
  for (const phase of PHASES) {
    if (only && phase !== only && phase !== 'insert') continue;
    console.log(`waiting for ${gate}.${phase}`);
    while (!existsSync(`${gate}.${phase}`)) await sleep(100);
    const started = performance.now();
    if (process.env.BULK && phase === 'update') await updateAllRows(client);
    else await runPhase(client, w, phase);
    const ms = performance.now() - started;
    console.log(`${phase} ${ms.toFixed(0)} ms`);
    if (phase === 'insert') await client.exec(`SELECT COUNT(*) FROM ${TABLE}`);
  }
} finally {
  await setup.close();
}
