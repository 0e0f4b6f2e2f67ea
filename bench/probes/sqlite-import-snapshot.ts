/**
 * Probe: the SQLite-target import of the bench's workload W (inserts, one-column updates in
 * a seeded random key order, deletes; bench/workload.ts) from PostgreSQL, on one snapshot of
 * the target taken after the transport, so that two builds (or two settings) import the very
 * same inbox, one after the other, as often as asked; prints this process's CPU and wall per
 * import. `make` writes the snapshot (the target's file and the config) into DIR; `run`
 * imports a fresh copy of it ROUNDS times:
 *
 *   npx tsx bench/probes/sqlite-import-snapshot.ts make DIR [scale=0.3]
 *   npx tsx bench/probes/sqlite-import-snapshot.ts run DIR [rounds=3] [pragma …]
 *
 * `TRACE=1` with `run`: the import's statements by shape, timed by this process's CPU (SQLite's included).
 * `TRACE=peak`: by the RSS each statement adds at its highest above the RSS before it (Linux: the peak reset through
 * /proc/self/clear_refs before the statement, VmHWM read after), largest first: which statement sets the import's peak.
 *
 * Run `run` from each tree in turn on the same DIR to compare them, or, warmer and from a build,
 * `node bench/probes/sqlite-import-run.mjs TREE DIR` (docs/performance.md).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config, ImportProgram } from '../../src/config/config.ts';
import { sqliteDialect } from '../../src/dialects/sqlite/sqlite-dialect.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import { transportOnce } from '../../src/runtime/transport/transport.ts';
import { createBenchSetup } from '../nodes.ts';
import { StatementTrace, traceClient } from '../traced-client.ts';
import { changeCount, PHASES, runPhase, workloadW } from '../workload.ts';

const [mode, dir, arg3, ...pragmas] = process.argv.slice(2);

/** A field of /proc/self/status (kB) in MB. */
const statusMb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;
/** The process's peak RSS reset to its RSS now (clear_refs 5: https://docs.kernel.org/filesystems/proc.html), which it returns in MB. */
const rssReset = () => {
  writeFileSync('/proc/self/clear_refs', '5');
  return statusMb('VmRSS');
};
if ((mode !== 'make' && mode !== 'run') || !dir) throw new Error('usage: sqlite-import-snapshot.ts make|run DIR [scale|rounds] [pragma …]');

if (mode === 'make') {
  const w = workloadW(Number(arg3 ?? 0.3));
  const setup = await createBenchSetup(
    [
      { name: 'src', dialect: 'postgres', sync: true },
      { name: 'tgt', dialect: 'sqlite', sync: true },
    ],
    [
      { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize: 10000 },
      { id: 1001, type: 'import', node: 'tgt', batchSize: 10000 },
    ],
  );
  try {
    const src = await setup.handle('src');
    const tgt = await setup.handle('tgt');
    for (const phase of PHASES) await runPhase(src.client, w, phase);
    let moved = 0;
    for (let pass = 0; moved < changeCount(w) && pass < 100; pass++)
      moved += (await transportOnce(setup.config.programs[0] as never, src, tgt)).moved;
    await tgt.client.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    mkdirSync(dir, { recursive: true });
    copyFileSync(setup.config.nodes.tgt.url, join(dir, 'target.db'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ config: setup.config, total: moved }));
    console.log(`snapshot of ${moved} changes in ${dir}`);
  } finally {
    await setup.close();
  }
} else {
  const { config, total } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { config: Config; total: number };
  const program = config.programs.find((p) => p.type === 'import') as ImportProgram;
  for (let round = 0; round < Number(arg3 ?? 3); round++) {
    const file = join(dir, `run-${process.pid}.db`);
    for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
    copyFileSync(join(dir, 'target.db'), file);
    const node = { ...config.nodes.tgt, url: file };
    const connected = await sqliteDialect.connect(file, node.name);
    for (const p of pragmas) await connected.exec(`PRAGMA ${p}`);
    const trace = new StatementTrace();
    const cpuMs = () => {
      const c = process.cpuUsage();
      return (c.user + c.system) / 1000;
    };
    const client =
      process.env.TRACE === 'peak'
        ? traceClient(connected, trace, rssReset, () => statusMb('VmHWM'))
        : process.env.TRACE
          ? traceClient(connected, trace, cpuMs)
          : connected;
    const run = { ...config, nodes: { ...config.nodes, tgt: node } };
    try {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      let applied = 0;
      for (let pass = 0; applied < total && pass < 100; pass++) {
        const r = await importOnce(run, program, { node, dialect: sqliteDialect, client });
        applied += r.applied + r.unchanged;
      }
      const c = process.cpuUsage(c0);
      console.log(
        `import ${applied} changes: CPU ${((c.user + c.system) / 1e6).toFixed(2)} s (user ${(c.user / 1e6).toFixed(2)}, system ${(c.system / 1e6).toFixed(2)}), wall ${((performance.now() - t0) / 1000).toFixed(2)} s`,
      );
      if (process.env.TRACE === 'peak')
        for (const s of trace
          .top(100)
          .sort((a, b) => b.max - a.max)
          .slice(0, 12))
          console.log(`  ${s.max.toFixed(0).padStart(5)} MB at most above the RSS before ${String(s.count).padStart(5)}×  ${s.shape}`);
      else if (process.env.TRACE)
        for (const s of trace.top(12)) console.log(`  ${String(s.ms).padStart(6)} ms CPU ${String(s.count).padStart(5)}×  ${s.shape}`);
      console.log(`peak RSS of the process ${statusMb('VmHWM').toFixed(0)} MB (since the last statement's reset when TRACE=peak)`);
    } finally {
      await client.close();
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
    }
  }
}
