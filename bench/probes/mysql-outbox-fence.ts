/**
 * Probe: what the outbox's per-row fence trigger costs MariaDB capture (workload W, single-row
 * statements, 1,000 per transaction, as case 1 writes them). Variants, alternating by round:
 * `fence` (the trigger as installed), `none` (no outbox fence trigger at all: the upper
 * bound of what skipping it for capture's rows could save) and `flag` (a body that skips
 * the read when NEW.change_version matches @dsync_version, which capture sets just before)
 * and `consume` (the same, clearing @dsync_version when it skips).
 * Wall time and mariadbd's CPU (/proc; the whole server, so read it only beside its pair).
 *
 *   npx tsx bench/probes/mysql-outbox-fence.ts [N=20000] [ROUNDS=3] [variants=fence,none]
 */
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { DbClient } from '../../src/core/dialect.ts';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { PHASES, runPhase, type Workload } from '../workload.ts';

const n = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 3);
const variants = (process.argv[4] ?? 'fence,none').split(',');
const w: Workload = { inserts: n, updates: n, deletes: Math.round(n / 5), perTransaction: 1000 };
const BODIES: Record<string, string | null> = {
  fence: 'BEGIN IF @dsync_fenced IS NULL THEN DO (SELECT COUNT(*) FROM ds_change_fence WHERE id = 1); END IF; END',
  none: null,
  flag: 'BEGIN IF @dsync_fenced IS NULL AND NOT (NEW.change_version <=> @dsync_version) THEN DO (SELECT COUNT(*) FROM ds_change_fence WHERE id = 1); END IF; END',
  consume:
    'BEGIN IF @dsync_fenced IS NULL THEN IF NEW.change_version = @dsync_version THEN SET @dsync_version = NULL; ELSE DO (SELECT COUNT(*) FROM ds_change_fence WHERE id = 1); END IF; END IF; END',
};
const serverPid = Number(execSync('pgrep -o mariadbd').toString().trim());
const serverCpu = () => {
  const f = readFileSync(`/proc/${serverPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
};

async function install(client: DbClient, variant: string) {
  for (const t of [TABLE, 'ds_row_version', 'ds_change_outbox']) await client.exec(`DELETE FROM ${client.dialect.sql.ident(t)}`);
  await client.exec('DROP TRIGGER IF EXISTS ds_change_outbox_fence');
  const body = BODIES[variant];
  if (body) await client.exec(`CREATE TRIGGER ds_change_outbox_fence BEFORE INSERT ON ds_change_outbox FOR EACH ROW ${body}`);
}

const setup = await createBenchSetup([{ name: 'src', dialect: 'mysql', sync: true }]);
try {
  const { client } = await setup.handle('src');
  for (let round = 0; round < rounds; round++) {
    for (const v of round % 2 === 0 ? variants : [...variants].reverse()) {
      await install(client, v);
      const cells: string[] = [];
      for (const phase of PHASES) {
        const s0 = serverCpu();
        const ms = await runPhase(client, w, phase);
        const rows = phase === 'delete' ? w.deletes : n;
        cells.push(`${phase} ${((ms * 1000) / rows).toFixed(1)} µs wall / ${(((serverCpu() - s0) * 1000) / rows).toFixed(1)} µs server`);
      }
      console.log(`round ${round} ${v.padEnd(6)} ${cells.join(', ')}`);
    }
  }
} finally {
  await setup.close();
}
