/**
 * What a captured single-row statement costs MariaDB, variant against variant: workload W
 * (one statement per round trip, 1,000 per transaction, as case 1 writes it) on sales_order in
 * one database per variant, the variants taking turns transaction by transaction (the order
 * rotating), so that load from other processes falls on all of them alike. Each variant is a
 * script run on its database after its sales_order triggers are dropped and the outbox's fence
 * trigger is put back as step 20 left it (so a variant may replace either). Reports µs per
 * statement of each session's server thread on a CPU (schedstat, nanoseconds: stat's utime and
 * stime tick every 10 ms), median and best over the rounds. Not a benchmark case: evidence for
 * docs/performance.md ("Issue 13, MariaDB capture: what a single-row statement costs").
 *
 *   npx tsx bench/probes/mysql-statement-cost.ts N ROUNDS name=file.sql [name=file.sql …]
 *   (name=- is the table without triggers; name=a.sql+b.sql runs both scripts)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { DbClient } from '../../src/core/dialect.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { COLUMNS, deletePlan, orderRow, PHASES, type Phase, updatePlan, type Workload } from '../workload.ts';

const [nArg, roundsArg, ...variantArgs] = process.argv.slice(2);
const n = Number(nArg);
const rounds = Number(roundsArg);
const variants = variantArgs.map((arg) => {
  const [name, files] = arg.split('=');
  return { name, scripts: files === '-' ? [] : files.split('+').map((f) => readFileSync(f.trim(), 'utf8')) };
});
const w: Workload = { inserts: n, updates: n, deletes: Math.round(n / 5), perTransaction: 1000 };
/** The outbox's fence trigger as upgrade step 20 leaves it (templates/mysql/upgrade_fence_send_only.sql.hbs). */
const FENCE =
  'CREATE TRIGGER ds_change_outbox_fence BEFORE INSERT ON ds_change_outbox FOR EACH ROW BEGIN IF NEW.change_version = @dsync_version THEN ' +
  'SET @dsync_version = NULL; IF NEW.change_version = -1 THEN SET NEW.change_version = NULL; END IF; ' +
  'ELSEIF @dsync_fenced IS NULL THEN DO (SELECT COUNT(*) FROM ds_change_fence WHERE id = 1); END IF; END';

async function reset(client: DbClient, scripts: string[]): Promise<void> {
  const { rows } = await client.query<{ TRIGGER_NAME: string }>(
    "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'sales_order'",
  );
  for (const r of rows) await client.exec(`DROP TRIGGER ${client.dialect.sql.ident(r.TRIGGER_NAME)}`);
  await client.exec('DROP TRIGGER IF EXISTS ds_change_outbox_fence');
  await client.exec(FENCE);
  for (const t of [TABLE, 'ds_row_version', 'ds_change_outbox']) await client.exec(`DELETE FROM ${client.dialect.sql.ident(t)}`);
  for (const script of scripts) for (const statement of client.dialect.splitScript(script)) await client.exec(statement);
}

/** W's statements of one phase as [sql, params], the very ones runPhase (bench/workload.ts) sends. */
function statements(phase: Phase): Array<[string, unknown[]]> {
  if (phase === 'insert') {
    const sql = `INSERT INTO ${TABLE} (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`;
    return Array.from({ length: w.inserts }, (_, i) => [sql, orderRow(i)]);
  }
  if (phase === 'update') return updatePlan(w).map(([key, q]) => [`UPDATE ${TABLE} SET quantity = ? WHERE order_id = ?`, [q, key]]);
  return deletePlan(w).map((key) => [`DELETE FROM ${TABLE} WHERE order_id = ?`, [key]]);
}

const setup = await createBenchSetup(variants.map((_, i) => ({ name: `v${i}`, dialect: 'mysql' as const, sync: true })));
try {
  const pid = execFileSync('pgrep', ['-o', 'mariadbd']).toString().trim();
  const sessions = [];
  for (let i = 0; i < variants.length; i++) {
    const { client } = await setup.handle(`v${i}`);
    const { rows } = await client.query<{ tid: number }>(
      'SELECT TID AS tid FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()',
    );
    const path = `/proc/${pid}/task/${Number(rows[0].tid)}/schedstat`;
    sessions.push({ client, cpuNs: () => Number(readFileSync(path, 'utf8').split(' ')[0]) });
  }
  const samples = variants.map(() => ({ insert: [] as number[], update: [] as number[], delete: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < variants.length; i++) await reset(sessions[i].client, variants[i].scripts);
    for (const phase of PHASES) {
      const all = statements(phase);
      const spent = variants.map(() => 0);
      for (let at = 0, turn = round; at < all.length; at += w.perTransaction, turn++) {
        const chunk = all.slice(at, at + w.perTransaction);
        for (let k = 0; k < variants.length; k++) {
          const i = (k + turn) % variants.length;
          const { client, cpuNs } = sessions[i];
          const c0 = cpuNs();
          await client.transaction(async (tx) => {
            for (const [sql, params] of chunk) await tx.query(sql, params);
          });
          spent[i] += cpuNs() - c0;
        }
      }
      for (let i = 0; i < variants.length; i++) samples[i][phase].push(spent[i] / 1000 / all.length);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
  console.log(`W on MariaDB, ${n} inserts, ${n} updates, ${w.deletes} deletes, ${rounds} rounds, variants taking turns by transaction`);
  console.log('µs of the session thread on a CPU per statement, median (best)');
  console.log(['variant'.padEnd(20), ...PHASES.map((p) => p.padStart(16))].join(''));
  variants.forEach((v, i) => {
    const s = samples[i];
    console.log(
      [v.name.padEnd(20), ...PHASES.map((p) => `${median(s[p]).toFixed(1)} (${Math.min(...s[p]).toFixed(1)})`.padStart(16))].join(''),
    );
  });
} finally {
  await setup.close();
}
