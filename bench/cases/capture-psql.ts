/**
 * Case 1 on PostgreSQL, psql-script variant: W written as one SQL script per phase
 * (literal values, simple protocol, BEGIN … COMMIT around every 1,000 statements) and run
 * by `psql -X -q -f`, as the peers' published numbers were measured; with and without
 * dsync's triggers on fresh databases, phases alternating which goes first. The client
 * costs next to nothing here, so the ratio shows the triggers' own cost more plainly than
 * the bound-parameter variant (node-postgres, one round trip per statement).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createBenchSetup, TABLE } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';
import { COLUMNS, changeCount, deletePlan, orderRow, PHASES, type Phase, updatePlan, type Workload } from '../workload.ts';

const run = promisify(execFile);

/** W's slowdown target on PostgreSQL in a psql script (issue 13): at most 1.3, a ratio of 1 / 1.3. */
export const PSQL_TARGET = 1 / 1.3;

const literal = (v: unknown) => (typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`);

function statements(w: Workload, phase: Phase): string[] {
  if (phase === 'insert')
    return Array.from(
      { length: w.inserts },
      (_, i) => `INSERT INTO ${TABLE} (${COLUMNS.join(', ')}) VALUES (${orderRow(i).map(literal).join(', ')});`,
    );
  if (phase === 'update') return updatePlan(w).map(([key, q]) => `UPDATE ${TABLE} SET quantity = ${q} WHERE order_id = ${literal(key)};`);
  return deletePlan(w).map((key) => `DELETE FROM ${TABLE} WHERE order_id = ${literal(key)};`);
}

/** The phase as a script: `perTransaction` statements per BEGIN … COMMIT. */
export function psqlScript(w: Workload, phase: Phase): string {
  const all = statements(w, phase);
  const out: string[] = ['\\set ON_ERROR_STOP on'];
  for (let i = 0; i < all.length; i += w.perTransaction) out.push('BEGIN;', ...all.slice(i, i + w.perTransaction), 'COMMIT;');
  return `${out.join('\n')}\n`;
}

/** Runs `file` through psql against `url`; its wall time in ms. */
export async function psql(url: string, file: string): Promise<number> {
  const started = performance.now();
  await run('psql', ['-X', '-q', '-f', file, url], { maxBuffer: 16 * 1024 * 1024 });
  return performance.now() - started;
}

/**
 * Rows: the triggers' W ÷ W without dsync, and the same way a send-only node's (no version store)
 * and capture mode keys' (key triggers only: the outbox rows come from passes, case 1k).
 */
export async function capturePsqlScript(w: Workload): Promise<ResultRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-psql-'));
  const setup = await createBenchSetup([
    { name: 'plain', dialect: 'postgres', sync: false },
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'so', dialect: 'postgres', sync: true, sendOnly: true },
    { name: 'k', dialect: 'postgres', sync: true, capture: 'keys' },
  ]);
  try {
    const url = (name: string) => setup.config.nodes[name].url;
    const kinds = ['plain', 'src', 'so', 'k'] as const;
    const label = {
      plain: 'without triggers',
      src: 'with triggers',
      so: "with a send-only node's triggers",
      k: 'with key triggers (keys mode)',
    };
    const ms = Object.fromEntries(kinds.map((k) => [k, { insert: 0, update: 0, delete: 0 }])) as Record<
      (typeof kinds)[number],
      Record<Phase, number>
    >;
    for (const [i, phase] of PHASES.entries()) {
      const file = join(dir, `${phase}.sql`);
      writeFileSync(file, psqlScript(w, phase));
      // Each phase in a rotated order, so that none always goes first.
      for (const which of [...kinds.slice(i % kinds.length), ...kinds.slice(0, i % kinds.length)]) {
        progress(`capture PostgreSQL (psql script): W ${phase}s ${label[which]}`);
        ms[which][phase] = await psql(url(which), file);
      }
    }
    const total = (m: Record<Phase, number>) => m.insert + m.update + m.delete;
    const without = total(ms.plain);
    const changes = changeCount(w);
    const row = (which: 'src' | 'so' | 'k', caseName: string): ResultRow => {
      const withTriggers = total(ms[which]);
      const ratio = without / withTriggers;
      const perPhase = PHASES.map((p) => `${p} ${fmt(ms.plain[p] / ms[which][p], 2)}`).join(', ');
      return {
        case: caseName,
        subject: 'PostgreSQL',
        measured: `${fmt(perSecond(changes, withTriggers))} changes/s ${label[which]} (${seconds(withTriggers)})`,
        baseline: `${fmt(perSecond(changes, without))} changes/s without (${seconds(without)})`,
        ratio,
        target: `≥ ${fmt(PSQL_TARGET, 2)} (slowdown ≤ 1.3)`,
        verdict: verdict(ratio >= PSQL_TARGET),
        note: `slowdown ${fmt(withTriggers / without, 2)}; per phase (with ÷ without): ${perPhase}`,
        data: { withoutMs: ms.plain, withMs: ms[which], changes },
      };
    };
    return [
      row('src', '1 capture, psql script'),
      row('so', '1 capture, psql script, send-only node'),
      row('k', '1 capture, psql script, keys mode'),
    ];
  } finally {
    await setup.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
