/**
 * Probe for case 5 (scale): the case's drain (a backlog of N inserts written by INSERT …
 * SELECT through the triggers, PostgreSQL → PostgreSQL, transport then import, batches of
 * 10,000), every batch timed: wall time, this process's CPU, each backend's CPU
 * (/proc/<pid>/stat of pg_backend_pid()), the time of each statement shape, and the
 * server's checkpoint and backend-write counters (pg_stat_bgwriter) read between batches.
 * Prints one line per batch and a summary of the first and last tenth of each phase:
 * where the time per change goes as the drain goes on.
 *
 *   npx tsx bench/probes/scale-trace.ts [N=1000000] [batchSize=10000] [--explain] [--analyze]
 *
 * --explain: EXPLAIN (ANALYZE, BUFFERS) of the outbox, inbox and version-store reads at the
 * start and at the end of each phase. --analyze: ANALYZE the outbox after the backlog is
 * written (what a DBA's autovacuum would do), for an A/B of stale statistics.
 */
import { readFileSync } from 'node:fs';
import type { DbClient } from '../../src/core/dialect.ts';
import { getDialect } from '../../src/dialects/registry.ts';
import type { ImportProgram, TransportProgram } from '../../src/config/config.ts';
import { boundHeap } from '../../src/runtime/heap.ts';
import { importOnce } from '../../src/runtime/import/import.ts';
import type { NodeHandle } from '../../src/runtime/nodes.ts';
import { workDone } from '../../src/runtime/sync.ts';
import { inboxBatchSelect } from '../../src/runtime/import/inbox-batches.ts';
import { outboxBatchSql, transportOnce } from '../../src/runtime/transport/transport.ts';
import { insertGeneratedRows } from '../bulk-sql.ts';
import { createBenchSetup } from '../nodes.ts';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const n = Number(args[0] ?? 1_000_000);
const batchSize = Number(args[1] ?? 10_000);
const explain = process.argv.includes('--explain');
const analyze = process.argv.includes('--analyze');
boundHeap();

const TICK = 100; // clock ticks per second (getconf CLK_TCK)
function backendCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICK;
}

interface Batch {
  phase: 'transport' | 'import';
  index: number;
  wallMs: number;
  nodeCpuMs: number;
  srcCpuMs: number;
  tgtCpuMs: number;
  shapes: Map<string, number>;
  server: Record<string, number>;
}

const shapeOf = (sql: string) =>
  sql
    .replace(/\s+/g, ' ')
    .replace(/\$\d+|\?/g, '?')
    .replace(/(\(\?(, \?)*\)(, )?){2,}/g, '(…rows…)')
    .slice(0, 70);

let current: Map<string, number> = new Map();
let onBatch: (() => Promise<void>) | null = null;
let onLockedRead: ((sql: string, params: readonly unknown[]) => Promise<void>) | null = null;
function traced(client: DbClient, side: string): DbClient {
  const timed = async <T>(sql: string, run: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    try {
      return await run();
    } finally {
      const key = `${side}: ${shapeOf(sql)}`;
      current.set(key, (current.get(key) ?? 0) + performance.now() - started);
    }
  };
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'query') return (sql: string, params?: readonly unknown[]) => timed(sql, () => target.query(sql, params));
      if (prop === 'queryArrays' && target.queryArrays)
        return async (sql: string, params?: readonly unknown[]) => {
          if (sql.startsWith('WITH r AS MATERIALIZED')) await onLockedRead?.(sql, params ?? []);
          return timed(sql, () => target.queryArrays!(sql, params));
        };
      if (prop === 'exec') return (script: string) => timed(script, () => target.exec(script));
      if (prop === 'queryPipelined' && target.queryPipelined)
        return (statements: ReadonlyArray<{ sql: string; params: readonly unknown[] }>) =>
          timed(`[pipelined] ${statements.map((s) => s.sql).join('; ')}`, () => target.queryPipelined!(statements));
      const copy = (target as { copyFrom?: (sql: string, data: Iterable<string>) => Promise<number> }).copyFrom;
      if (prop === 'copyFrom' && copy) return (sql: string, data: Iterable<string>) => timed(sql, () => copy.call(target, sql, data));
      if (prop === 'transaction')
        return async <T>(fn: (tx: DbClient) => Promise<T>) => {
          const result = await timed('-- transaction', () => target.transaction((tx) => fn(traced(tx, `${side} tx`))));
          if (side === 'tgt') await onBatch?.();
          return result;
        };
      const value = Reflect.get(target, prop, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const setup = await createBenchSetup(
  [
    { name: 'src', dialect: 'postgres', sync: true },
    { name: 'tgt', dialect: 'postgres', sync: true },
  ],
  [
    { id: 1000, type: 'transport', from: 'src', to: 'tgt', batchSize },
    { id: 1001, type: 'import', node: 'tgt', batchSize },
  ],
);
const handles: NodeHandle[] = [];
try {
  const { config } = setup;
  const srcAdmin = (await setup.handle('src')).client;
  const tgtAdmin = (await setup.handle('tgt')).client;
  let t = performance.now();
  await insertGeneratedRows(srcAdmin, 0, n, 100_000);
  console.log(`backlog of ${n} written in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  if (analyze) {
    t = performance.now();
    await srcAdmin.exec('ANALYZE ds_change_outbox');
    console.log(`ANALYZE ds_change_outbox: ${(performance.now() - t).toFixed(0)} ms`);
  }
  await srcAdmin.exec('CHECKPOINT');
  const open = async (name: string) => {
    const node = config.nodes[name];
    const dialect = await getDialect(node.dialect);
    const raw = await dialect.connect(node.url, node.name);
    const pid = Number((await raw.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid);
    const handle: NodeHandle = { node, dialect, client: traced(raw, name) };
    handles.push(handle);
    return { handle, pid };
  };
  const src = await open('src');
  const tgt = await open('tgt');
  const transport = config.programs.find((p) => p.type === 'transport') as TransportProgram;
  const importer = config.programs.find((p) => p.type === 'import') as ImportProgram;

  const serverCounters = async (): Promise<Record<string, number>> => {
    const { rows } = await srcAdmin.query<Record<string, string>>(
      `SELECT checkpoints_timed + checkpoints_req AS checkpoints, buffers_checkpoint, buffers_backend, buffers_clean,
              (SELECT wal_bytes FROM pg_stat_wal) AS wal_bytes, (SELECT wal_fpi FROM pg_stat_wal) AS wal_fpi
       FROM pg_stat_bgwriter`,
    );
    return Object.fromEntries(Object.entries(rows[0]).map(([k, v]) => [k, Number(v)]));
  };

  const explainAt = async (label: string) => {
    if (!explain) return;
    const outboxPointer = Number(
      (await srcAdmin.query<{ p: string }>('SELECT last_pointer AS p FROM ds_program_parameter WHERE id = 1000')).rows[0].p,
    );
    const inboxPointer = Number(
      (await tgtAdmin.query<{ p: string }>('SELECT last_pointer AS p FROM ds_program_parameter WHERE id = 1001')).rows[0].p,
    );
    // The transport's and the import's batch reads as they are sent, and with a LIMIT of the batch's size (a no-op: ids are unique).
    for (const [client, sql, params] of [
      [srcAdmin, outboxBatchSql(srcAdmin), [outboxPointer, outboxPointer + batchSize]],
      [tgtAdmin, inboxBatchSelect(false)('$1', '$2'), [inboxPointer, inboxPointer + batchSize]],
    ] as const) {
      for (const variant of [sql, `${sql} LIMIT ${batchSize}`]) {
        const { rows } = await client.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${variant}`, [...params]);
        console.log(`-- ${label}: ${variant.slice(0, 40)}…${variant.slice(-60)}\n${rows.map((r) => Object.values(r)[0]).join('\n')}`);
      }
    }
  };

  const batches: Batch[] = [];
  let counters = await serverCounters();
  let phase: 'transport' | 'import' = 'transport';
  let index = 0;
  let w0 = 0;
  let c0 = process.cpuUsage();
  let s0 = 0;
  let g0 = 0;
  const begin = () => {
    current = new Map();
    w0 = performance.now();
    c0 = process.cpuUsage();
    s0 = backendCpuMs(src.pid);
    g0 = backendCpuMs(tgt.pid);
  };
  // One batch = one top-level transaction on the target (the transport's inbox write, the import's batch).
  onBatch = async () => {
    const wallMs = performance.now() - w0;
    const c = process.cpuUsage(c0);
    const srcCpuMs = backendCpuMs(src.pid) - s0;
    const tgtCpuMs = backendCpuMs(tgt.pid) - g0;
    const after = await serverCounters();
    const server = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (counters[k] ?? 0)]));
    counters = after;
    const b: Batch = { phase, index: index++, wallMs, nodeCpuMs: (c.user + c.system) / 1000, srcCpuMs, tgtCpuMs, shapes: current, server };
    batches.push(b);
    console.log(
      `${phase} ${String(b.index).padStart(4)} wall ${wallMs.toFixed(0)} node ${b.nodeCpuMs.toFixed(0)} srcBE ${srcCpuMs.toFixed(0)} tgtBE ${tgtCpuMs.toFixed(0)} ckpt ${server.checkpoints} bufBackend ${server.buffers_backend} bufCkpt ${server.buffers_checkpoint} walMB ${(server.wal_bytes / 1e6).toFixed(1)} fpi ${server.wal_fpi}`,
    );
    begin();
  };
  // The import's locked read of rows and version entries, explained on another connection (the batch's keys are new there too).
  onLockedRead = async (sql, params) => {
    if (!explain || phase !== 'import' || ![1, Math.floor(n / batchSize / 2), Math.floor(n / batchSize) - 2].includes(index)) return;
    const { rows } = await tgtAdmin.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
    console.log(`-- import batch ${index}: the locked read\n${rows.map((r) => Object.values(r)[0]).join('\n')}`);
  };
  // The server's own processes (CPU), the bytes the two backends made the kernel write to storage or read from it
  // (/proc/<pid>/io write_bytes, read_bytes: page-cache misses), and the WAL written, per phase: the I/O a drain
  // pays that no statement shows.
  const helpers = (
    await srcAdmin.query<{ pid: number; backend_type: string }>(
      "SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type IN ('checkpointer', 'background writer', 'walwriter')",
    )
  ).rows;
  const ioOf = (pid: number, field: string) =>
    Number(new RegExp(`${field}: (\\d+)`).exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? 0);
  const serverSnapshot = () => ({
    ...Object.fromEntries(helpers.map((h) => [`${h.backend_type} CPU s`, backendCpuMs(h.pid) / 1000])),
    'source backend MB read': ioOf(src.pid, 'read_bytes') / 1e6,
    'source backend MB written': ioOf(src.pid, 'write_bytes') / 1e6,
    'target backend MB read': ioOf(tgt.pid, 'read_bytes') / 1e6,
    'target backend MB written': ioOf(tgt.pid, 'write_bytes') / 1e6,
  });
  const runPhase = async (name: 'transport' | 'import', pass: () => Promise<number>) => {
    phase = name;
    index = 0;
    await explainAt(`${name} start`);
    let done = 0;
    const before: Record<string, number> = serverSnapshot();
    const lsn = async () => String((await srcAdmin.query<{ l: string }>('SELECT pg_current_wal_lsn()::text AS l')).rows[0].l);
    const wal0 = await lsn();
    begin();
    while (done < n) {
      const moved = await pass();
      done += moved;
      if (moved === 0) await new Promise((r) => setTimeout(r, 5));
    }
    const after: Record<string, number> = serverSnapshot();
    const wal = Number(
      (await srcAdmin.query<{ b: string }>('SELECT pg_wal_lsn_diff($1::text::pg_lsn, $2::text::pg_lsn) AS b', [await lsn(), wal0])).rows[0]
        .b,
    );
    console.log(
      `${name} server: ${Object.keys(after)
        .map((k) => `${k} ${(after[k] - before[k]).toFixed(1)}`)
        .join(', ')}, WAL MB ${(wal / 1e6).toFixed(0)} (cluster-wide)`,
    );
    await explainAt(`${name} end`);
  };
  const oneTransportBatch = async () => workDone(await transportOnce(transport, src.handle, tgt.handle));
  const oneImportBatch = async () => workDone(await importOnce(config, importer, tgt.handle));
  const started = performance.now();
  await runPhase('transport', oneTransportBatch);
  const transportMs = performance.now() - started;
  await runPhase('import', oneImportBatch);
  const importMs = performance.now() - started - transportMs;
  console.log(
    `\nN ${n}: transport ${(transportMs / 1000).toFixed(1)} s, import ${(importMs / 1000).toFixed(1)} s, rate ${((n * 1000) / (transportMs + importMs)).toFixed(0)}/s`,
  );
  for (const phase of ['transport', 'import'] as const) {
    const of = batches.filter((b) => b.phase === phase);
    const total = (f: (b: Batch) => number) => (of.reduce((s, b) => s + f(b), 0) / 1000).toFixed(1);
    console.log(
      `${phase} CPU s: node ${total((b) => b.nodeCpuMs)} srcBE ${total((b) => b.srcCpuMs)} tgtBE ${total((b) => b.tgtCpuMs)}; checkpoints ${total((b) => b.server.checkpoints * 1000)}, buffers written by backends ${total((b) => b.server.buffers_backend * 1000)}, by checkpoints ${total((b) => b.server.buffers_checkpoint * 1000)}`,
    );
    const tenth = Math.max(1, Math.floor(of.length / 10));
    for (const [label, part] of [
      ['first tenth', of.slice(0, tenth)],
      ['last tenth', of.slice(-tenth)],
      ['all', of],
    ] as const) {
      const sum = (f: (b: Batch) => number) => part.reduce((s, b) => s + f(b), 0) / part.length;
      const shapes = new Map<string, number>();
      for (const b of part) for (const [k, v] of b.shapes) shapes.set(k, (shapes.get(k) ?? 0) + v / part.length);
      console.log(
        `${phase} ${label} (${part.length} passes): wall ${sum((b) => b.wallMs).toFixed(0)} node ${sum((b) => b.nodeCpuMs).toFixed(0)} srcBE ${sum((b) => b.srcCpuMs).toFixed(0)} tgtBE ${sum((b) => b.tgtCpuMs).toFixed(0)} ms/pass`,
      );
      for (const [k, v] of [...shapes].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`   ${v.toFixed(1).padStart(8)} ms  ${k}`);
    }
  }
} finally {
  for (const h of handles) await h.client.close().catch(() => undefined);
  await setup.close();
}
