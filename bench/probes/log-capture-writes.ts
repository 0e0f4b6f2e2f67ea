/**
 * What capture mode log costs the application that writes (issue 14's W slowdown, goal ≤ 1.1
 * on PostgreSQL): workload W on three databases of one private cluster (wal_level=logical,
 * which the shared server does not have): without dsync, with dsync's triggers, and in mode
 * log (no triggers, REPLICA IDENTITY FULL, a slot). Phases alternate their order so that a
 * slow minute of a shared machine lands on all three. Then one capture pass drains the log
 * and its rate is shown. Not a benchmark case (it needs its own cluster): evidence for
 * docs/capture-modes.md.
 *
 *   npx tsx bench/probes/log-capture-writes.ts [scale=0.1]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.ts';
import type { DbClient } from '../../src/core/dialect.ts';
import { generateNode, introspectTables, writeFiles } from '../../src/generate/generate.ts';
import { applyNode } from '../../src/migrate/apply.ts';
import { captureLogPass } from '../../src/runtime/capture/log-capture.ts';
import { NodeSet } from '../../src/runtime/nodes.ts';
import { startPrivatePostgres } from '../../test/helpers/private-postgres.ts';
import { salesOrderDdl } from '../nodes.ts';
import { fmt } from '../report.ts';
import { changeCount, PHASES, runPhase, workloadW } from '../workload.ts';

const scale = Number(process.argv[2] ?? 0.1);
const w = workloadW(scale);
const cluster = await startPrivatePostgres({ wal_level: 'logical', max_replication_slots: 10, max_wal_senders: 10 });
const dir = mkdtempSync(join(tmpdir(), 'dsync-log-probe-'));
const kinds = ['plain', 'trigger', 'log'] as const;
try {
  const urls = Object.fromEntries(await Promise.all(kinds.map(async (k) => [k, await cluster.createDatabase(`probe_${k}`)]))) as Record<
    (typeof kinds)[number],
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
  const clients = {} as Record<(typeof kinds)[number], DbClient>;
  for (const kind of kinds) {
    const handle = await nodes.get(kind);
    for (const statement of handle.dialect.splitScript(salesOrderDdl('postgres'))) await handle.client.exec(statement);
    if (kind !== 'plain') {
      const schemas = await introspectTables(config, handle.dialect, handle.client);
      writeFiles(join(dir, kind), generateNode(config, handle.node, handle.dialect, schemas));
      await applyNode(config, handle.node, handle.dialect, handle.client);
    }
    clients[kind] = handle.client;
  }
  const ms = Object.fromEntries(kinds.map((k) => [k, { insert: 0, update: 0, delete: 0 }])) as Record<
    (typeof kinds)[number],
    Record<(typeof PHASES)[number], number>
  >;
  for (const [i, phase] of PHASES.entries()) {
    const order = i % 2 === 0 ? kinds : [...kinds].reverse();
    for (const kind of order) {
      ms[kind][phase] = await runPhase(clients[kind], w, phase);
      process.stderr.write(`${phase} ${kind}: ${fmt(ms[kind][phase])} ms\n`);
    }
  }
  const total = (k: (typeof kinds)[number]) => ms[k].insert + ms[k].update + ms[k].delete;
  console.log(`W at scale ${scale}: ${changeCount(w)} changes, PostgreSQL private cluster (wal_level=logical)`);
  for (const kind of kinds) {
    const perPhase = PHASES.map((p) => `${p} ${fmt(ms[kind][p] / ms.plain[p], 2)}`).join(', ');
    console.log(
      `${kind.padEnd(8)} ${fmt(total(kind))} ms, slowdown ${fmt(total(kind) / total('plain'), 2)} (per phase ÷ plain: ${perPhase})`,
    );
  }
  const started = Date.now();
  const pass = await captureLogPass(config, await nodes.get('log'));
  const passMs = Date.now() - started;
  console.log(
    `capture pass: ${pass.captured} outbox rows from ${pass.transactions} transactions in ${fmt(passMs)} ms (${fmt((pass.captured / passMs) * 1000)} changes/s)`,
  );
  await nodes.closeAll();
} finally {
  cluster.destroy();
  rmSync(dir, { recursive: true, force: true });
}
