/**
 * Probe: the SQLite-target import of a snapshot made by sqlite-import-snapshot.ts (`make`),
 * run from a tree's compiled `dist/` (no tsx: warm, line-level profiles), ROUNDS times in one
 * process on fresh copies; prints this process's CPU and wall per round, the file I/O of the
 * round (/proc/self/io), and the least and median CPU. The last round is profiled when PROFILE
 * names a file (HEAP=1: its allocations too, in PROFILE.heap); PRAGMAS="a=1;b=2" set on the
 * connection first; CHECKPOINT=1 counts a final checkpoint of the WAL in the round. Two trees in turn on one snapshot compare them under one load:
 *
 *   node bench/probes/sqlite-import-run.mjs TREE DIR [rounds=3]
 */
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join, resolve } from 'node:path';

const [tree, dir, roundsArg = '3'] = process.argv.slice(2);
const rounds = Number(roundsArg);
const { importOnce } = await import(resolve(tree, 'dist/runtime/import/import.js'));
const { sqliteDialect } = await import(resolve(tree, 'dist/dialects/sqlite/sqlite-dialect.js'));
const { config, total } = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
const program = config.programs.find((p) => p.type === 'import');
const io = () =>
  Object.fromEntries(
    readFileSync('/proc/self/io', 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split(': '))
      .map(([k, v]) => [k, Number(v)]),
  );
const cpus = [];
for (let round = 0; round < rounds; round++) {
  const file = join(dir, `run-${process.pid}.db`);
  const files = [file, `${file}-wal`, `${file}-shm`];
  for (const f of files) if (existsSync(f)) rmSync(f);
  copyFileSync(join(dir, 'target.db'), file);
  const node = { ...config.nodes.tgt, url: file };
  const client = await sqliteDialect.connect(file, node.name);
  for (const p of (process.env.PRAGMAS ?? '').split(';').filter(Boolean)) await client.exec(`PRAGMA ${p}`);
  const run = { ...config, nodes: { ...config.nodes, tgt: node } };
  const profiled = process.env.PROFILE && round === rounds - 1;
  const session = profiled ? new Session() : null;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
    if (process.env.HEAP) await session.post('HeapProfiler.startSampling', { samplingInterval: 8192 });
  }
  const io0 = io();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let applied = 0;
  for (let pass = 0; applied < total && pass < 100; pass++) {
    const r = await importOnce(run, program, { node, dialect: sqliteDialect, client });
    applied += r.applied + r.unchanged;
  }
  // CHECKPOINT=1: the WAL copied into the database and synced before the clock stops (what a later commit or close would do).
  if (process.env.CHECKPOINT) await client.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  const c = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const io1 = io();
  if (session) {
    writeFileSync(process.env.PROFILE, JSON.stringify((await session.post('Profiler.stop')).profile));
    if (process.env.HEAP)
      writeFileSync(`${process.env.PROFILE}.heap`, JSON.stringify((await session.post('HeapProfiler.stopSampling')).profile));
  }
  cpus.push((c.user + c.system) / 1e6);
  console.log(
    `import ${applied}: CPU ${((c.user + c.system) / 1e6).toFixed(2)} s (system ${(c.system / 1e6).toFixed(2)}), wall ${(wall / 1000).toFixed(2)} s; ` +
      `read ${io1.syscr - io0.syscr} calls ${((io1.rchar - io0.rchar) / 1e6).toFixed(0)} MB, write ${io1.syscw - io0.syscw} calls ${((io1.wchar - io0.wchar) / 1e6).toFixed(0)} MB`,
  );
  await client.close();
  for (const f of files) if (existsSync(f)) rmSync(f);
}
cpus.sort((a, b) => a - b);
console.log(`min CPU ${cpus[0].toFixed(2)} s, median ${cpus[Math.floor(cpus.length / 2)].toFixed(2)} s`);
