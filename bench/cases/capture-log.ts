/**
 * Case 2l, capture mode log (issue 14): what the mode costs the application that writes
 * (goal: W slowdown ≤ 1.1 on PostgreSQL) and how fast a capture pass turns the log into
 * outbox rows. W on three databases of one private cluster (wal_level=logical, which the
 * shared server does not have): without dsync, with dsync's triggers, and in mode log (no
 * triggers, REPLICA IDENTITY FULL, a slot). Phases alternate their order so that a slow
 * minute of a shared machine lands on all three. Then one capture pass drains the log. Then W
 * once more as psql scripts (case 1's psql variant, the peers' way of measuring) without dsync
 * and in mode log, against issue 13's psql goal.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { captureLogPass } from '../../src/runtime/capture/log-capture.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { startPrivatePostgres } from '../../test/helpers/private-postgres.ts';
import { salesOrderDdl, TABLE } from '../nodes.ts';
import { fmt, perSecond, progress, type ResultRow, seconds, verdict } from '../report.ts';
import { changeCount, PHASES, type Phase, runPhase, workloadW } from '../workload.ts';
import { PSQL_TARGET, psql, psqlScript } from './capture-psql.ts';

const KINDS = ['plain', 'trigger', 'log'] as const;
type Kind = (typeof KINDS)[number];

/** Issue 14: the writer in mode log at most 1.1 times slower than without dsync, i.e. a throughput ratio ≥ 1 / 1.1. */
const LOG_TARGET = 0.91;

export async function captureLog(scale: number): Promise<ResultRow[]> {
  const w = workloadW(scale);
  const changes = changeCount(w);
  progress(`log: private PostgreSQL cluster (wal_level=logical) for W (${changes} changes)`);
  const cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
  const dir = mkdtempSync(join(tmpdir(), 'dsync-bench-log-'));
  try {
    const urls = Object.fromEntries(await Promise.all(KINDS.map(async (k) => [k, await cluster.createDatabase(`bench_${k}`)]))) as Record<
      Kind,
      string
    >;
    const config = parseConfig(
      {
        nodes: {
          plain: { dialect: 'postgres', url: urls.plain, serverId: 's0' },
          trigger: { dialect: 'postgres', url: urls.trigger, serverId: 's1' },
          log: { dialect: 'postgres', url: urls.log, serverId: 's2', capture: { sales_order: 'log' } },
        },
        tables: ['sales_order'],
        programs: [{ id: 1000, type: 'transport', from: 'trigger', to: 'log' }],
        generatedDir: dir,
      },
      dir,
      null,
    );
    const nodes = new NodeSet(config);
    try {
      const clients = {} as Record<Kind, DbClient>;
      for (const kind of KINDS) {
        const handle = await nodes.get(kind);
        for (const statement of handle.dialect.splitScript(salesOrderDdl('postgres'))) await handle.client.exec(statement);
        if (kind !== 'plain') {
          const schemas = await introspectTables(config, handle.dialect, handle.client);
          writeFiles(join(dir, kind), generateNode(config, handle.node, handle.dialect, schemas));
          await applyNode(config, handle.node, handle.dialect, handle.client);
        }
        clients[kind] = handle.client;
      }
      const ms = Object.fromEntries(KINDS.map((k) => [k, { insert: 0, update: 0, delete: 0 }])) as Record<
        Kind,
        Record<(typeof PHASES)[number], number>
      >;
      for (const [i, phase] of PHASES.entries()) {
        for (const kind of i % 2 === 0 ? KINDS : [...KINDS].reverse()) {
          progress(`log: W ${phase}s, ${kind}`);
          ms[kind][phase] = await runPhase(clients[kind], w, phase);
        }
      }
      const total = (k: Kind) => ms[k].insert + ms[k].update + ms[k].delete;
      const perPhase = (k: Kind) => PHASES.map((p) => `${p} ${fmt(ms.plain[p] / ms[k][p], 2)}`).join(', ');

      progress('log: one capture pass over the whole log');
      const started = performance.now();
      const pass = await captureLogPass(config, await nodes.get('log'));
      const passMs = performance.now() - started;
      const { rows } = await clients.log.query<{ n: unknown }>('SELECT count(*) AS n FROM ds_change_outbox');
      const outboxRows = Number(rows[0].n);
      if (pass.captured !== changes || outboxRows !== changes)
        throw new Error(`log capture wrote ${outboxRows} outbox rows (pass: ${pass.captured}) for ${changes} changes of W`);

      // W again as psql scripts, on the emptied tables (their rows gone by one DELETE each, then vacuumed).
      const viaPsql = { plain: { insert: 0, update: 0, delete: 0 }, log: { insert: 0, update: 0, delete: 0 } };
      for (const kind of ['plain', 'log'] as const) {
        await clients[kind].exec(`DELETE FROM ${TABLE}`);
        await clients[kind].exec(`VACUUM ${TABLE}`);
      }
      for (const [i, phase] of PHASES.entries()) {
        const file = join(dir, `${phase}.sql`);
        writeFileSync(file, psqlScript(w, phase));
        for (const kind of i % 2 === 0 ? (['plain', 'log'] as const) : (['log', 'plain'] as const)) {
          progress(`log: W ${phase}s as a psql script, ${kind}`);
          viaPsql[kind][phase] = await psql(urls[kind], file);
        }
      }
      const psqlTotal = (m: Record<Phase, number>) => m.insert + m.update + m.delete;
      const psqlRatio = psqlTotal(viaPsql.plain) / psqlTotal(viaPsql.log);

      const slowdown = (k: Kind) => total(k) / total('plain');
      const ratio = total('plain') / total('log');
      const passRate = perSecond(changes, passMs);
      const triggerRate = perSecond(changes, total('trigger'));
      return [
        {
          case: '2l capture, log mode (W slowdown)',
          subject: 'PostgreSQL',
          measured: `${fmt(perSecond(changes, total('log')))} changes/s in mode log (${seconds(total('log'))})`,
          baseline: `${fmt(perSecond(changes, total('plain')))} changes/s without dsync (${seconds(total('plain'))})`,
          ratio,
          target: `≥ ${LOG_TARGET} (slowdown ≤ 1.1)`,
          verdict: verdict(ratio >= LOG_TARGET),
          note: `slowdown ${fmt(slowdown('log'), 2)} in mode log, ${fmt(slowdown('trigger'), 2)} with triggers; per phase (without ÷ log): ${perPhase('log')}; (without ÷ triggers): ${perPhase('trigger')}`,
          data: { changes, ms },
        },
        {
          case: '2l capture, log mode, psql script (W slowdown)',
          subject: 'PostgreSQL',
          measured: `${fmt(perSecond(changes, psqlTotal(viaPsql.log)))} changes/s in mode log (${seconds(psqlTotal(viaPsql.log))})`,
          baseline: `${fmt(perSecond(changes, psqlTotal(viaPsql.plain)))} changes/s without dsync (${seconds(psqlTotal(viaPsql.plain))})`,
          ratio: psqlRatio,
          target: `≥ ${fmt(PSQL_TARGET, 2)} (slowdown ≤ 1.3)`,
          verdict: verdict(psqlRatio >= PSQL_TARGET),
          note: `slowdown ${fmt(1 / psqlRatio, 2)}; per phase (without ÷ log): ${PHASES.map((p) => `${p} ${fmt(viaPsql.plain[p] / viaPsql.log[p], 2)}`).join(', ')}`,
          data: { changes, viaPsql },
        },
        {
          case: '2l capture, log mode (pass rate)',
          subject: 'PostgreSQL',
          measured: `${fmt(passRate)} changes/s captured by one pass (${seconds(passMs)})`,
          baseline: `${fmt(triggerRate)} changes/s written with triggers (${seconds(total('trigger'))})`,
          ratio: passRate / triggerRate,
          target: 'report',
          verdict: 'INFO',
          note: `${outboxRows} outbox rows from ${pass.transactions} source transactions; a write rate above the pass rate grows the backlog`,
          data: { changes, passMs, transactions: pass.transactions, outboxRows },
        },
      ];
    } finally {
      await nodes.closeAll();
    }
  } finally {
    cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
